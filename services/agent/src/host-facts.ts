import { readdir, readFile, readlink } from 'node:fs/promises';
import type { HostFacts } from './build-policy.js';
import { foreignListeners } from './port-window.js';
import { parseInterfaces, parseListeners, parsePortRange } from './proc-net.js';

export interface HostFactsOptions {
  readonly forwarderUid: number;
  /** pgw's own service ports and the operator's reserved ones: port -> what it is. */
  readonly reserved: ReadonlyMap<number, string>;
}

/**
 * Reads what the agent checks its inputs against, in its own network namespace (the gateway's):
 * /proc/net/* and the sysctl are per namespace. A few ms even with thousands of listeners.
 */
export async function readHostFacts(options: HostFactsOptions): Promise<HostFacts> {
  const [dev, range, tcp, tcp6] = await Promise.all([
    readFile('/proc/net/dev', 'utf8'),
    readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'),
    readFile('/proc/net/tcp', 'utf8'),
    // Absent when IPv6 is disabled in the kernel: then no IPv6 socket can listen either.
    readFile('/proc/net/tcp6', 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error))),
  ]);
  const listeners = [...parseListeners(tcp), ...parseListeners(tcp6)];
  const suspects = listeners.some((l) => l.uid !== options.forwarderUid);
  return {
    interfaces: new Set(parseInterfaces(dev)),
    localPortRange: parsePortRange(range),
    reserved: options.reserved,
    foreignListeners: foreignListeners(listeners, options.forwarderUid, suspects ? await ownSocketInodes() : new Set()),
  };
}

/** Inodes of the sockets this process holds: listeners the agent creates for the forwarder are legitimate. */
async function ownSocketInodes(): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  return inodes;
}

/** A stable key of the facts that change a build, so an unchanged host does not force a re-render. */
export function hostFactsKey(facts: HostFacts): string {
  return JSON.stringify([[...facts.interfaces].sort(), facts.localPortRange, [...facts.reserved].sort(([a], [b]) => a - b), [...facts.foreignListeners].sort(([a], [b]) => a - b)]);
}
