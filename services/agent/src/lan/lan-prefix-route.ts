import type { Ipv4Cidr } from '@pgw/domain';
import type { RouteEntry } from '../netlink/rtnetlink.js';

/**
 * The LAN prefix's backstop route: `blackhole <lanCidr> metric 4294967295` in the main table. The
 * LAN interface's own route (metric 0) always wins while it exists; when it goes (link down,
 * ifdown, a network manager's restart) this one is left, and a packet to a LAN address is refused
 * by routing instead of taking the default route to the WAN. In TPROXY mode the forwarder's side of
 * a client's connection sends as the remote host: the second layer under chain `lan_only` of
 * `inet pgw` (render-ruleset.ts), holding with no nft table at all.
 */
export const LAN_ROUTE_PROTOCOL = 244;
export const RT_TABLE_MAIN = 254;
const RTN_BLACKHOLE = 6;
const LAST_METRIC = 4_294_967_295;

/** `ip` argument lines that leave exactly this backstop for `cidr` among our routes (protocol 244) of the main table; empty when in place. */
export function lanPrefixRouteCommands(mainRoutes: readonly RouteEntry[], cidr: Ipv4Cidr): string[] {
  const ours = mainRoutes.filter((r) => r.protocol === LAN_ROUTE_PROTOCOL);
  const wanted = (r: RouteEntry) => r.type === RTN_BLACKHOLE && r.dst === cidr;
  const commands = ours.some(wanted) ? [] : [`route add blackhole ${cidr} metric ${LAST_METRIC} protocol ${LAN_ROUTE_PROTOCOL}`];
  // A previous LAN prefix's, once the new one is in place: that prefix may be reachable by the WAN now.
  for (const r of ours) if (!wanted(r)) commands.push(`route del ${r.type === RTN_BLACKHOLE ? 'blackhole ' : ''}${r.dst} protocol ${r.protocol}`);
  return commands;
}
