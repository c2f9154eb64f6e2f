import type { GatewayPolicy, Ipv4, PolicyClient, Port } from '@pgw/domain';

/**
 * A client whose tracked connections end, but for those DNAT-ed to `keepPort`: its port in force,
 * where it may have reconnected already (the forwarder moves to a new route as fast as we do).
 */
export interface ClientDisconnect {
  readonly ip: Ipv4;
  readonly keepPort: Port;
}

/**
 * Clients still effective after `next` whose forwarder port changed: their connections DNAT-ed to
 * the old port get nothing any more (that port left @client_ports, so input drops the client's
 * packets and strict OUTPUT the forwarder's), so their conntrack entries are deleted: the client's
 * next packet is then tracked anew, lands on the new port, and is answered with a reset.
 *
 * Blocked and unmapped clients keep their entries: the -150 rules refuse every packet they send
 * whatever its conntrack state, and the entry is what carries the forwarder's reset back to the
 * client (un-NAT-ed, so the client's stack accepts it) when it closes their relays. A client moved
 * to another proxy on the same port needs nothing here: the forwarder resets its relays itself.
 *
 * Connections made in TPROXY mode keep their entries too: no NAT binds them to the old port (tproxy
 * finds their established socket whatever the port map says), the forwarder resets them itself, and
 * without its entry that reset is no reply of an intercepted flow: chain agent_sockets drops it.
 */
export function clientsToDisconnect(previous: GatewayPolicy | null, next: GatewayPolicy): ClientDisconnect[] {
  if (previous === null || previous.interceptMode === 'tproxy') return [];
  const nextByIp = new Map<string, PolicyClient>(next.clients.map((c) => [c.ip, c]));
  const result: ClientDisconnect[] = [];
  for (const before of previous.clients) {
    if (before.blocked !== null) continue;
    const after = nextByIp.get(before.ip);
    if (after !== undefined && after.blocked === null && after.port !== before.port) result.push({ ip: before.ip, keepPort: after.port });
  }
  return result;
}
