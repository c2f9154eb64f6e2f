import type { InterfaceName } from '@pgw/domain';
import { deleteRule } from './lan-routing.js';
import { LOOPBACK_IFINDEX, type RouteEntry, type RoutingRule, RTN_LOCAL } from '../netlink/rtnetlink.js';

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

/**
 * `ip` argument lines that put the TPROXY routing for `lan` in force; empty when it is. Route
 * before rule. `routes`: those of table TPROXY_TABLE. A table that holds routes, or is looked up by
 * rules, that are not ours is the operator's: never written to (`route replace` would replace their
 * default route there). In TPROXY mode (`required`) that is refused with why; in DNAT mode, where
 * this routing is inert, the table is left alone.
 */
export function tproxyRoutingCommands(rules: readonly RoutingRule[], routes: readonly RouteEntry[], lan: InterfaceName, required: boolean): string[] {
  const foreign = [
    ...routes.filter((r) => r.protocol !== TPROXY_PROTOCOL).map((r) => `route ${r.dst} protocol ${r.protocol}`),
    ...rules.filter((r) => r.protocol !== TPROXY_PROTOCOL && r.action === 'lookup' && r.table === TPROXY_TABLE).map((r) => `rule ${r.priority} protocol ${r.protocol}`),
  ];
  if (foreign.length > 0) {
    if (!required) return [];
    throw new Error(`routing table ${TPROXY_TABLE} holds routes or rules pgw did not add (${foreign.slice(0, 3).join(', ')}); TPROXY mode needs it to itself: move them to another table`);
  }
  const commands: string[] = [];
  if (!routes.some((r) => r.type === RTN_LOCAL && r.dst === '0.0.0.0/0' && r.oif === LOOPBACK_IFINDEX)) {
    commands.push(`route replace local 0.0.0.0/0 dev lo table ${TPROXY_TABLE} protocol ${TPROXY_PROTOCOL}`);
  }
  const ours = rules.filter((r) => r.protocol === TPROXY_PROTOCOL);
  const wanted = (r: RoutingRule) =>
    r.priority === PREF_TPROXY && r.iif === lan && r.dst === null && r.fwmark === TPROXY_MARK && r.fwmask === TPROXY_MARK && r.action === 'lookup' && r.table === TPROXY_TABLE;
  if (!ours.some(wanted)) {
    commands.push(`rule add pref ${PREF_TPROXY} iif ${lan} fwmark ${mark}/${mark} lookup ${TPROXY_TABLE} protocol ${TPROXY_PROTOCOL}`);
  }
  // A previous LAN interface's rule, or one edited by hand: the wanted one exists first.
  for (const r of ours.filter((r) => !wanted(r))) commands.push(deleteRule(r));
  return commands;
}
