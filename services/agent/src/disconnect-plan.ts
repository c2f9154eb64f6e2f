import type { GatewayPolicy, Ipv4, PolicyClient } from '@pgw/domain';

/**
 * Clients whose existing connections must end after `next` is applied: they were effective
 * and now are blocked, unmapped, or pinned to another port or proxy. Their conntrack entries
 * are deleted so no packet keeps flowing on the old DNAT binding (mihomo issue 2223).
 * With no previous policy (first start, no state file) the blocked clients are listed: whatever
 * they had before is unknown; effective clients keep their connections across an agent restart.
 */
export function clientsToDisconnect(previous: GatewayPolicy | null, next: GatewayPolicy): Ipv4[] {
  const nextByIp = new Map<string, PolicyClient>(next.clients.map((c) => [c.ip, c]));
  if (previous === null) return next.clients.filter((c) => c.blocked !== null).map((c) => c.ip);
  const result: Ipv4[] = [];
  for (const before of previous.clients) {
    if (before.blocked !== null) continue;
    const after = nextByIp.get(before.ip);
    if (!after || after.blocked !== null || after.port !== before.port || after.proxyId !== before.proxyId || after.mappingId !== before.mappingId) {
      result.push(before.ip);
    }
  }
  return result;
}
