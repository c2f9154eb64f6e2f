import { access, mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type InterfaceName, interfaceNameSchema } from '@pgw/domain';
import { routingCommands, runIpCommands } from './lan-routing.js';
import { readRoutes, readRules } from '../netlink/kernel-tables.js';
import { TPROXY_TABLE, tproxyRoutingCommands } from './policy-routing-tproxy.js';

/** Interfaces on which this agent switched route_localnet on, written before each switch. */
const LEDGER = 'route-localnet';

const ipv4 = (iface: string, key: string) => `/proc/sys/net/ipv4/conf/${iface}/${key}`;

/**
 * The LAN interface's sysctls, docs/SECURITY.md "Layers":
 * - the kernel backstop, always: IPv4 forwarding off for packets arriving on it (the kernel then
 *   routes nothing from the LAN, with no nft table and no pgw process) and IPv6 off on it (IPv6
 *   forwarding has no per-interface switch; the LAN gets no IPv6 anyway, flow 10). A later
 *   `sysctl net.ipv4.ip_forward=1` resets every interface's forwarding to 1, so this is asserted
 *   again at least every second (every reconcile but a delta changing no MAC pin within a second
 *   of the last assertion), not once.
 * - route_localnet, which DNAT to 127.0.0.1 needs and which opens the 127.0.0.0/8 hole: on only
 *   while the agent runs and a ruleset closing the hole is in force. Every interface it is switched
 *   on for is recorded first in the state directory, so that the previous LAN interface is switched
 *   off after a change and `pgw-agent-stopped` (ExecStopPost) switches all of them off after any
 *   exit of the agent, SIGKILL included. It is switched on only once the policy routing rules of
 *   lan-routing.ts are in force, which refuse the hole's packets even with every nft table flushed.
 */
export class LanSysctl {
  constructor(
    private readonly stateDir: string,
    private readonly ipBin: string,
  ) {}

  /**
   * Backstop on `lan`; route_localnet on `lan` when `localnet`, off on every other recorded
   * interface. `tproxy`: the ruleset in force intercepts by TPROXY, whose policy routing must then
   * be in force (policy-routing-tproxy.ts).
   */
  async prepare(lan: InterfaceName, localnet: boolean, tproxy: boolean): Promise<void> {
    await setSysctl(ipv4(lan, 'forwarding'), '0');
    await disableIpv6(lan);
    // A previous LAN interface's hole is shut before its routing rules move to `lan` below: in
    // between, its packets to 127/8 met no rule refusing them while route_localnet let them in.
    const recorded = await this.recorded();
    const others = recorded.filter((iface) => iface !== lan);
    for (const iface of others) await resetLocalnet(iface);
    if (others.length > 0) await this.record(recorded.filter((iface) => iface === lan));
    // Before route_localnet can go on: the routing rules that refuse unmarked LAN -> 127/8 (lan-routing.ts).
    // With them, TPROXY mode's local delivery of marked packets (inert in DNAT mode: nothing sets the
    // mark). One listing over netlink serves both; `ip` runs only to change something.
    await this.assertRouting(lan, tproxy);
    if (!localnet) {
      await this.resetAll();
      return;
    }
    if (!recorded.includes(lan)) await this.record([lan]);
    await setSysctl(ipv4(lan, 'route_localnet'), '1');
  }

  /**
   * Both sets of rules from one netlink listing of the rules and of table 243's routes, each set's
   * changes run side by side: each touches only its own rules (protocol 242 or 243), and on the
   * boot fast path the clients wait for route_localnet.
   */
  private async assertRouting(lan: InterfaceName, tproxy: boolean): Promise<void> {
    const [rules, routes] = await Promise.all([readRules(), readRoutes(TPROXY_TABLE)]);
    await Promise.all([
      runIpCommands(this.ipBin, routingCommands(rules, lan), 'route_localnet closure'),
      runIpCommands(this.ipBin, tproxyRoutingCommands(rules, routes, lan, tproxy), 'TPROXY policy routing'),
    ]);
  }

  /** route_localnet off on every recorded interface (those that no longer exist are skipped). */
  async resetAll(): Promise<InterfaceName[]> {
    const recorded = await this.recorded();
    for (const iface of recorded) await resetLocalnet(iface);
    if (recorded.length > 0) await this.record([]);
    return recorded;
  }

  private async recorded(): Promise<InterfaceName[]> {
    let text: string;
    try {
      text = await readFile(join(this.stateDir, LEDGER), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    // Validated like any input of root code: a name becomes part of a /proc path.
    return text.split('\n').filter(Boolean).map((name) => interfaceNameSchema.parse(name));
  }

  /** Atomic and synced: after a crash the file holds the old list or the new one. */
  private async record(ifaces: readonly InterfaceName[]): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    const target = join(this.stateDir, LEDGER);
    const temp = `${target}.${process.pid}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(ifaces.map((i) => `${i}\n`).join(''));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
  }
}

export async function setSysctl(file: string, value: string): Promise<void> {
  if ((await readFile(file, 'utf8')).trim() !== value) await writeFile(file, `${value}\n`);
}

/**
 * IPv6 off on the LAN interface (flow 10's backstop). A kernel booted with ipv6.disable=1 has no
 * /proc/sys/net/ipv6 at all: then no interface speaks IPv6 and there is nothing to switch off (as
 * guard/load-guard.sh does), where refusing would leave every client without route_localnet,
 * policy routing and MAC pins. An interface missing while IPv6 exists is the error it is.
 */
export async function disableIpv6(lan: string, procSys = '/proc/sys'): Promise<void> {
  try {
    await setSysctl(`${procSys}/net/ipv6/conf/${lan}/disable_ipv6`, '1');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || (await exists(`${procSys}/net/ipv6`))) throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function resetLocalnet(iface: InterfaceName): Promise<void> {
  try {
    await setSysctl(ipv4(iface, 'route_localnet'), '0');
  } catch (error) {
    // The interface is gone: nothing of it can receive packets any more.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
