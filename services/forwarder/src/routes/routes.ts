import { type ClientBlockReason, handshakeToUse, upstreamChooser, type Ipv4, type Port, type PrivateDestinations, type ProxyEndpoint, type ProxyHandshake } from '@pgw/domain';
import type { DesiredProxyWithCredentials, DesiredState } from '@pgw/db';

/** Why the forwarder refuses a mapping's connections: the domain's reasons plus its own. */
export type RouteBlockReason = ClientBlockReason | 'proxy_missing' | 'credentials_unreadable';

/** What one mapping's listener needs: who may connect, and through which proxy it dials. */
export interface MappingRoute {
  readonly mappingId: number;
  readonly clientIp: Ipv4;
  readonly listenPort: Port;
  /** The proxy it dials through (chooseUpstream): the mapping's own, or a backup while that one is down. */
  readonly proxyId: number;
  /** null only while blocked (the proxy row is missing or its password cannot be decrypted). */
  readonly proxy: ProxyEndpoint | null;
  /** The SOCKS5 handshake to dial with: the proxy's forced mode, or what auto learned (sequential until then). */
  readonly handshake: ProxyHandshake;
  /** null: connections are relayed. Otherwise they are refused and live ones closed (fail closed). */
  readonly blocked: RouteBlockReason | null;
  /** The mapping's own choice for private destinations; null: the global setting. */
  readonly privateDestinations: PrivateDestinations | null;
}

export interface RouteProblem {
  readonly mappingId: number;
  readonly reason: string;
}

export interface RouteTable {
  readonly routes: ReadonlyMap<number, MappingRoute>;
  /** Mappings that get no listener at all, with the reason (logged, shown in status). */
  readonly problems: readonly RouteProblem[];
  /** When a route changes by time alone (a recovered proxy's hold-down ends, issue 17), ms; null or absent: only on new input. */
  readonly recheckAt?: number | null;
}

/**
 * Desired state -> one route per mapping, pure. `decrypt` opens a sealed proxy password; a
 * password that cannot be opened blocks that proxy's mappings instead of dialing without it.
 * `now`: the instant each mapping's upstream is chosen for (the agent decides with the same function).
 */
export function buildRoutes(state: DesiredState<DesiredProxyWithCredentials>, decrypt: (sealed: string) => string, now: number = Date.now()): RouteTable {
  const proxies = new Map<number, { endpoint: ProxyEndpoint | null; status: DesiredProxyWithCredentials['status']; handshake: ProxyHandshake }>();
  for (const row of state.proxies) {
    proxies.set(row.id, { endpoint: endpointOf(row, decrypt), status: row.status, handshake: handshakeToUse(row.handshakeMode, row.handshakeLearned) });
  }
  const { forwarderPortMin, forwarderPortMax } = state.settings;
  const choose = upstreamChooser(state.proxies, state.settings.backupHoldDownS, now);
  let recheckAt: number | null = null;
  const routes = new Map<number, MappingRoute>();
  const problems: RouteProblem[] = [...state.rejected];
  for (const mapping of state.mappings) {
    if (mapping.listenPort < forwarderPortMin || mapping.listenPort > forwarderPortMax) {
      problems.push({
        mappingId: mapping.id,
        reason: `listen port ${mapping.listenPort} is outside the forwarder port range ${forwarderPortMin}-${forwarderPortMax}`,
      });
      continue;
    }
    const choice = choose(mapping);
    if (choice.recheckAt !== null) recheckAt = Math.min(recheckAt ?? Infinity, choice.recheckAt);
    const proxy = proxies.get(choice.proxyId);
    let blocked: RouteBlockReason | null;
    if (proxy === undefined) blocked = 'proxy_missing';
    else if (proxy.endpoint === null) blocked = 'credentials_unreadable';
    else blocked = choice.blocked;
    routes.set(mapping.id, {
      mappingId: mapping.id,
      clientIp: mapping.clientIp,
      listenPort: mapping.listenPort,
      proxyId: choice.proxyId,
      proxy: proxy?.endpoint ?? null,
      handshake: proxy?.handshake ?? 'sequential',
      blocked,
      privateDestinations: mapping.privateDestinations ?? null,
    });
  }
  return { routes, problems, recheckAt };
}

function endpointOf(row: DesiredProxyWithCredentials, decrypt: (sealed: string) => string): ProxyEndpoint | null {
  let password: string | undefined;
  if (row.passwordEnc !== null) {
    try {
      password = decrypt(row.passwordEnc);
    } catch {
      return null;
    }
  }
  const endpoint: { -readonly [K in keyof ProxyEndpoint]: ProxyEndpoint[K] } = { protocol: row.protocol, host: row.host, port: row.port };
  if (row.username !== null) endpoint.username = row.username;
  if (password !== undefined) endpoint.password = password;
  return endpoint;
}

/** The same proxy row with the same endpoint and credentials: a connection or flow made through one still holds for the other. */
export function sameProxy(a: Pick<MappingRoute, 'proxyId' | 'proxy'>, b: Pick<MappingRoute, 'proxyId' | 'proxy'>): boolean {
  return a.proxyId === b.proxyId && sameEndpoint(a.proxy, b.proxy);
}

export function sameEndpoint(a: ProxyEndpoint | null, b: ProxyEndpoint | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  return a.protocol === b.protocol && a.host === b.host && a.port === b.port && a.username === b.username && a.password === b.password;
}
