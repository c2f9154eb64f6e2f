import { readFile } from 'node:fs/promises';
import { gatewayAddresses } from '@pgw/runtime';
import type { HostFacts } from './build-policy.js';
import { foreignListeners } from './port-window.js';
import { parseDefaultRouteInterfaces, parseLinkRoutes, parseInterfaces, parseListeners, parsePortRange } from './proc-net.js';

export interface HostFactsOptions {
  readonly forwarderUid: number;
  /** pgw's own service ports and the operator's reserved ones: port -> what it is. */
  readonly reserved: ReadonlyMap<number, string>;
  /** PGW_GUARD_FILE: read at every call for the LAN interface it names (the operator edits it). */
  readonly guardFile: string;
}

/**
 * Reads what the agent checks its inputs against, in its own network namespace (the gateway's):
 * /proc/net/* and the sysctl are per namespace. `ports`: the mapped ports, the only ones whose
 * listeners matter. /proc/net/tcp costs 5-15 ms (the kernel walks every socket hash bucket), so
 * the listeners are read again when the mapped ports change and after invalidate() (the agent
 * calls it from its periodic resync, about every 10 s, so that no notice-driven run pays for the
 * scan): between those, the agent holds every mapped port's socket itself (no other socket can
 * bind 127.0.0.1 or 0.0.0.0 on it). Root's sockets are left to the listener registry (port-window.ts).
 */
export interface HostFactsReader {
  (ports: ReadonlySet<number>): Promise<HostFacts>;
  /** The listeners are read again at the next call: the periodic full read, and after a handback. */
  invalidate(): void;
}

export function createHostFactsReader(options: HostFactsOptions): HostFactsReader {
  let full = true;
  let last: { ports: ReadonlySet<number>; portsKey: string; foreign: Map<number, string> } | null = null;
  const read = async (ports: ReadonlySet<number>): Promise<HostFacts> => {
    const [dev, route, range, localnetAll, guardText] = await Promise.all([
      readFile('/proc/net/dev', 'utf8'),
      readFile('/proc/net/route', 'utf8'),
      readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'),
      readFile('/proc/sys/net/ipv4/conf/all/route_localnet', 'utf8'),
      // Unreadable now (moved, a permission changed): it names nothing, which refuses every LAN.
      readFile(options.guardFile, 'utf8').catch(() => ''),
    ]);
    // The same Set object as last time is the same ports (the caller keeps it while its mappings do not change).
    const portsKey = last !== null && last.ports === ports ? last.portsKey : [...ports].sort((a, b) => a - b).join(',');
    if (full || last === null || last.portsKey !== portsKey) {
      const [tcp, tcp6] = await Promise.all([
        readFile('/proc/net/tcp', 'utf8'),
        // Absent when IPv6 is disabled in the kernel: then no IPv6 socket can listen either.
        readFile('/proc/net/tcp6', 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error))),
      ]);
      const listeners = [...parseListeners(tcp), ...parseListeners(tcp6)].filter((l) => ports.has(l.port));
      full = false;
      last = { ports, portsKey, foreign: foreignListeners(listeners, options.forwarderUid) };
    }
    return {
      interfaces: new Set(parseInterfaces(dev)),
      localAddresses: localIpv4Addresses(),
      defaultRouteInterfaces: new Set(parseDefaultRouteInterfaces(route)),
      linkRoutes: parseLinkRoutes(route),
      localPortRange: parsePortRange(range),
      reserved: options.reserved,
      foreignListeners: last.foreign,
      guard: { file: options.guardFile, lanInterface: guardLanInterface(guardText) },
      routeLocalnetAll: localnetAll.trim() !== '0',
    };
  };
  return Object.assign(read, { invalidate: () => void (full = true) });
}

/** The gateway's own IPv4 addresses in this namespace (what the forwarder refuses as destination_gateway). */
function localIpv4Addresses(): Set<string> {
  return new Set(gatewayAddresses().filter((address) => !address.includes(':')));
}

/** A stable key of the facts that change a build, so an unchanged host does not force a re-render. */
/**
 * The LAN interface a guard file names: its `define PGW_LAN_IF = "name"` line, read as
 * guard/load-guard.sh reads it (null: none, or a name it would refuse).
 */
export function guardLanInterface(text: string): string | null {
  const name = /^define PGW_LAN_IF = "([^"]*)"$/m.exec(text)?.[1];
  return name !== undefined && /^[A-Za-z0-9_.-]{1,15}$/.test(name) && !['all', 'default', 'lo'].includes(name) ? name : null;
}

export function hostFactsKey(facts: HostFacts): string {
  const routes = facts.linkRoutes.map((r) => `${r.iface} ${r.network}/${r.prefixLength}`).sort();
  return JSON.stringify([[...facts.interfaces].sort(), [...facts.localAddresses].sort(), [...facts.defaultRouteInterfaces].sort(), routes, facts.localPortRange, [...facts.reserved].sort(([a], [b]) => a - b), [...facts.foreignListeners].sort(([a], [b]) => a - b), facts.guard.lanInterface, facts.routeLocalnetAll]);
}
