import type { InterfaceName } from '@pgw/domain';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RuleRow } from './lan-routing.js';

// node:child_process, not execa: the boot fast path (boot.ts) loads this module too.
const run = promisify(execFile);

/**
 * The policy routing of TPROXY mode (issue 15, docs/ARCHITECTURE.md "TPROXY mode"). nft's
 * `tproxy` statement (render-tproxy.ts) assigns a client's packet to the forwarder's transparent
 * listening socket and sets TPROXY_MARK, but leaves its destination (a WAN host) as it is: the
 * routing decision would forward it, or drop it (forwarding is off on the LAN interface). This
 * rule sends a marked packet from the LAN to a table whose only route is `local 0.0.0.0/0 dev
 * lo`, so it is delivered locally, to that socket. No DNAT to 127.0.0.1, so no route_localnet.
 *
 * Installed in every mode: without the mark (set only by table inet pgw's tproxy rule, never from
 * the wire) it matches nothing, and a switch between modes is then one nft transaction.
 * Only in the agent's network namespace, like every rule of lan-routing.ts.
 */
export const TPROXY_MARK = 0x0200_0000;
/** Routing protocol and table number of these rules and routes (lan-routing.ts uses 242, lan-neighbours.ts 241). */
export const TPROXY_PROTOCOL = 243;
export const TPROXY_TABLE = 243;
/** Before lan-routing.ts's rules (100-102) and the local table they move there. */
export const PREF_TPROXY = 99;

const mark = `0x${TPROXY_MARK.toString(16)}`;

/** A row of `ip -j route show table N`. */
export interface RouteRow {
  readonly type?: string;
  readonly dst?: string;
  readonly dev?: string;
}

/** `ip` argument lines that put the TPROXY routing for `lan` in force; empty when it is. Route before rule. */
export function tproxyRoutingCommands(rules: readonly RuleRow[], routes: readonly RouteRow[], lan: InterfaceName): string[] {
  const commands: string[] = [];
  if (!routes.some((r) => r.type === 'local' && (r.dst === 'default' || r.dst === '0.0.0.0/0') && r.dev === 'lo')) {
    commands.push(`route replace local 0.0.0.0/0 dev lo table ${TPROXY_TABLE} protocol ${TPROXY_PROTOCOL}`);
  }
  const ours = rules.filter((r) => String(r.protocol) === String(TPROXY_PROTOCOL));
  const wanted = (r: RuleRow) => r.priority === PREF_TPROXY && r.iif === lan && r.fwmark === mark && r.table === String(TPROXY_TABLE);
  if (!ours.some(wanted)) {
    commands.push(`rule add pref ${PREF_TPROXY} iif ${lan} fwmark ${mark}/${mark} lookup ${TPROXY_TABLE} protocol ${TPROXY_PROTOCOL}`);
  }
  // A previous LAN interface's rule, or one edited by hand: the wanted one exists first.
  for (const r of ours.filter((r) => !wanted(r))) {
    commands.push(`rule del pref ${r.priority}${r.iif ? ` iif ${r.iif}` : ''}${r.fwmark ? ` fwmark ${r.fwmark}/${r.fwmask ?? r.fwmark}` : ''} protocol ${TPROXY_PROTOCOL}`);
  }
  return commands;
}

/** Asserts the rule and route in the agent's network namespace, on every LAN assertion (lan-sysctl.ts). */
export class TproxyRouting {
  constructor(private readonly ipBin: string) {}

  async ensure(lan: InterfaceName): Promise<void> {
    const [rules, routes] = await Promise.all([run(this.ipBin, ['-j', 'rule', 'show'], { timeout: 5_000 }), this.routes()]);
    const commands = tproxyRoutingCommands(JSON.parse(rules.stdout || '[]') as RuleRow[], routes, lan);
    for (const command of commands) {
      try {
        await run(this.ipBin, command.split(' '), { timeout: 5_000 });
      } catch (error) {
        const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
        throw new Error(`ip ${command} (TPROXY policy routing) failed: ${stderr.split('\n').slice(0, 3).join(' | ')}`);
      }
    }
  }

  private async routes(): Promise<RouteRow[]> {
    try {
      const listed = await run(this.ipBin, ['-j', 'route', 'show', 'table', String(TPROXY_TABLE)], { timeout: 5_000 });
      return JSON.parse(listed.stdout || '[]') as RouteRow[];
    } catch (error) {
      // The kernel has no table 243 until its first route: nothing of ours is there yet.
      if (/FIB table does not exist/.test(String((error as { stderr?: string }).stderr))) return [];
      throw error;
    }
  }
}
