import { cidrContains, type Ipv4, type Ipv4Cidr } from '@pgw/domain';
import type { LinkRoute } from './proc-net.js';

/**
 * Why lanInterface is not where the kernel delivers the LAN, or null: the whole LAN prefix is a
 * link route of another interface, and no part of it is lanInterface's. A bridge, bond or VLAN over
 * the named interface, or another NIC, then receives the clients' packets, and every layer that
 * matches by name (the ruleset, the guard, the sysctl backstop) matches nothing: no DNAT, no drop.
 * Only the whole prefix counts against it: a part of a wide LAN elsewhere (docker0's 172.17/16 in a
 * 172.16/12 LAN) proves nothing, least of all at boot, before lanInterface has its address (then
 * nothing is refused: nothing can be told). Blackhole and unreachable routes (`*`) are no carrier.
 */
export function lanRouteRefusal(lanInterface: string, lanCidr: Ipv4Cidr, routes: readonly LinkRoute[]): string | null {
  const carriers = lanCarriers(lanInterface, lanCidr, routes);
  if (carriers.length === 0) return null;
  return `lanInterface "${lanInterface}" does not carry the LAN ${lanCidr}: the kernel routes it by ${carriers.join(', ')} (a bridge, bond or VLAN over ${lanInterface}, or another interface); set lanInterface to that one`;
}

/**
 * The interfaces that carry the whole LAN prefix while lanInterface carries no part of it, sorted;
 * none when lanInterface carries (a part of) it. What lanRouteRefusal names, and what the ruleset
 * drops forwarding through meanwhile (GatewayPolicy lan.carriers).
 */
export function lanCarriers(lanInterface: string, lanCidr: Ipv4Cidr, routes: readonly LinkRoute[]): string[] {
  const lanNetwork = lanCidr.split('/')[0] as Ipv4;
  const lanLength = Number(lanCidr.split('/')[1]);
  const real = routes.filter((route) => route.iface !== '*');
  // Two prefixes nest or are apart: they overlap when either holds the other's network address.
  const overlapsLan = (route: LinkRoute) => cidrContains(lanCidr, route.network as Ipv4) || cidrContains(routeCidr(route), lanNetwork);
  if (real.some((route) => route.iface === lanInterface && overlapsLan(route))) return [];
  const holders = real.filter((route) => route.prefixLength <= lanLength && cidrContains(routeCidr(route), lanNetwork));
  return [...new Set(holders.map((route) => route.iface))].sort();
}

/** The kernel writes a link route's network with its host bits zero, as a CIDR needs. */
function routeCidr(route: LinkRoute): Ipv4Cidr {
  return `${route.network}/${route.prefixLength}` as Ipv4Cidr;
}
