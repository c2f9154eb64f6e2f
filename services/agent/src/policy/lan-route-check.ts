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
export function lanRouteRefusal(lanInterface: string, lanCidr: string, routes: readonly LinkRoute[]): string | null {
  const lan = prefixOf(lanCidr);
  if (lan === null) return null; // the settings' own check names a malformed prefix
  const real = routes.filter((route) => route.iface !== '*');
  if (real.some((route) => route.iface === lanInterface && overlaps(lan, prefixOf(`${route.network}/${route.prefixLength}`)))) return null;
  const holders = real.filter((route) => holds(prefixOf(`${route.network}/${route.prefixLength}`), lan));
  if (holders.length === 0) return null;
  const carriers = [...new Set(holders.map((route) => route.iface))].sort().join(', ');
  return `lanInterface "${lanInterface}" does not carry the LAN ${lanCidr}: the kernel routes it by ${carriers} (a bridge, bond or VLAN over ${lanInterface}, or another interface); set lanInterface to that one`;
}

interface Prefix {
  readonly network: number;
  readonly length: number;
}

function prefixOf(cidr: string): Prefix | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!match) return null;
  const octets = match.slice(1, 5).map(Number);
  const length = Number(match[5]);
  if (octets.some((o) => o > 255) || length > 32) return null;
  const address = octets.reduce((value, octet) => value * 256 + octet, 0);
  return { network: masked(address, length), length };
}

function masked(address: number, length: number): number {
  return length === 0 ? 0 : address - (address % 2 ** (32 - length));
}

/** `outer` holds all of `inner`. */
function holds(outer: Prefix | null, inner: Prefix): boolean {
  return outer !== null && outer.length <= inner.length && masked(inner.network, outer.length) === outer.network;
}

/** One prefix holds the other (two prefixes either nest or are apart). */
function overlaps(a: Prefix, b: Prefix | null): boolean {
  if (b === null) return false;
  const shorter = Math.min(a.length, b.length);
  return masked(a.network, shorter) === masked(b.network, shorter);
}
