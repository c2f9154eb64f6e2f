import type { GatewayPolicy, Ipv4, PolicyClient, Port } from '@pgw/domain';

/**
 * A client whose tracked connections end. `keepPort`: its binding in force, whose connections
 * stay (null: none stays). They were made after the change, or are the forwarder's own relays,
 * which the forwarder closes itself when their proxy changed.
 */
export interface ClientDisconnect {
  readonly ip: Ipv4;
  readonly keepPort: Port | null;
}

/**
 * Clients whose existing connections must end after `next` is applied: they were effective
 * and now are blocked, unmapped, or pinned to another port or proxy. Their conntrack entries
 * are deleted so no packet keeps flowing on a DNAT binding no longer in force (mihomo issue 2223).
 * A client still effective keeps the entries DNAT-ed to its port in force: the agent runs after
 * the forwarder has already moved to the new route, and the client's reconnect may be on that
 * port by then; deleting its entry would leave the relay's answers matching no DNAT entry, and
 * strict OUTPUT drops them (a connection that hangs with nothing received).
 * With no previous policy (first start, no state file) the blocked clients are listed: whatever
 * they had before is unknown; effective clients keep their connections across an agent restart.
 */
export function clientsToDisconnect(previous: GatewayPolicy | null, next: GatewayPolicy): ClientDisconnect[] {
  const nextByIp = new Map<string, PolicyClient>(next.clients.map((c) => [c.ip, c]));
  if (previous === null) return next.clients.filter((c) => c.blocked !== null).map((c) => ({ ip: c.ip, keepPort: null }));
  const result: ClientDisconnect[] = [];
  for (const before of previous.clients) {
    if (before.blocked !== null) continue;
    const after = nextByIp.get(before.ip);
    if (!after || after.blocked !== null) result.push({ ip: before.ip, keepPort: null });
    else if (after.port !== before.port || after.proxyId !== before.proxyId || after.mappingId !== before.mappingId) result.push({ ip: before.ip, keepPort: after.port });
  }
  return result;
}
