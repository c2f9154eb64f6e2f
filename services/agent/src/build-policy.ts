import type { DesiredState } from '@pgw/db';
import {
  cidrContains,
  clientBlockReason,
  type GatewayPolicy,
  type Ipv4,
  ipv4Schema,
  ipv4ToInt,
  type PolicyClient,
  type PolicyUpstream,
  type ProxyStatus,
} from '@pgw/domain';

export interface RejectedMapping {
  readonly mappingId: number;
  readonly reason: string;
}

export interface PolicyBuild {
  readonly policy: GatewayPolicy;
  /** Mappings left out of the ruleset (their client gets nothing), with the reason. */
  readonly rejected: readonly RejectedMapping[];
  /** Strict OUTPUT only: proxies whose host resolved to no IPv4 address (nobody can reach them). */
  readonly unresolvedProxies: readonly { readonly proxyId: number; readonly host: string }[];
}

/**
 * Desired state -> the policy the ruleset enforces. Pure: hostnames were resolved by the caller
 * (`resolved`: host -> IPv4 addresses), and the strict-output uids were looked up by it.
 */
export function buildGatewayPolicy(state: DesiredState, resolved: ReadonlyMap<string, readonly Ipv4[]>, strictOutputUids: readonly number[]): PolicyBuild {
  const { settings } = state;
  const statusOf = new Map<number, ProxyStatus>(state.proxies.map((p) => [p.id, p.status]));
  const rejected: RejectedMapping[] = [...state.rejected];
  const seenIps = new Set<string>();
  const seenPorts = new Set<number>();
  const clients: PolicyClient[] = [];
  for (const mapping of [...state.mappings].sort((a, b) => a.id - b.id)) {
    if (!cidrContains(settings.lanCidr, mapping.clientIp)) {
      rejected.push({ mappingId: mapping.id, reason: `client ${mapping.clientIp} is outside the LAN ${settings.lanCidr}` });
      continue;
    }
    // The database forbids these; if it ever holds them, the later row is left out rather than
    // letting two clients share a port or one client get two.
    if (seenIps.has(mapping.clientIp)) {
      rejected.push({ mappingId: mapping.id, reason: `client ${mapping.clientIp} is already mapped` });
      continue;
    }
    if (seenPorts.has(mapping.listenPort)) {
      rejected.push({ mappingId: mapping.id, reason: `port ${mapping.listenPort} is already used` });
      continue;
    }
    seenIps.add(mapping.clientIp);
    seenPorts.add(mapping.listenPort);
    clients.push({
      mappingId: mapping.id,
      proxyId: mapping.proxyId,
      ip: mapping.clientIp,
      port: mapping.listenPort,
      // A mapping whose proxy row is gone has an unknown proxy: fail closed.
      blocked: clientBlockReason(mapping, statusOf.get(mapping.proxyId) ?? 'unknown'),
    });
  }
  clients.sort((a, b) => ipv4ToInt(a.ip) - ipv4ToInt(b.ip));

  const unresolvedProxies: { proxyId: number; host: string }[] = [];
  let strictOutput: GatewayPolicy['strictOutput'] = null;
  if (settings.strictOutput) {
    const upstreams: PolicyUpstream[] = [];
    for (const proxy of state.proxies) {
      const literal = ipv4Schema.safeParse(proxy.host);
      const addresses = literal.success ? [literal.data] : (resolved.get(proxy.host) ?? []);
      if (addresses.length === 0) unresolvedProxies.push({ proxyId: proxy.id, host: proxy.host });
      for (const ip of addresses) upstreams.push({ ip, port: proxy.port });
    }
    strictOutput = { allowedUids: [...new Set(strictOutputUids)].sort((a, b) => a - b), upstreams };
  }

  return {
    policy: {
      lan: { interface: settings.lanInterface, cidr: settings.lanCidr },
      wan: { interface: settings.wanInterface },
      dnsMode: settings.dnsMode,
      clients,
      strictOutput,
    },
    rejected,
    unresolvedProxies,
  };
}
