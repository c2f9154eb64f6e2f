import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { fields, loadConfig } from '@pgw/config';
import { type GatewayPolicy, interfaceNameSchema, MAX_FLOWS_PER_CLIENT, MAX_UDP_NEW_PER_SECOND, MAX_TCP_NEW_PER_SECOND, ipv4Schema, isUnicastIpv4, networkListSchema, type VrrpPeer } from '@pgw/domain';
import { CLIENT_USAGE_INTERVAL_MS, nodeNameSetting } from '@pgw/events/contracts';
import { z } from 'zod';

// guard/pgw-guard.nft of this install: src/ and dist/ are both two levels below services/agent.
const INSTALLED_GUARD_FILE = fileURLToPath(new URL('../../../guard/pgw-guard.nft', import.meta.url));
const absolutePath = z.string().refine((s) => s.startsWith('/'), 'must be an absolute path');
const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a system user name');
const portList = z
  .string()
  .regex(/^(\d{1,5}(,\d{1,5})*)?$/, 'must be a comma-separated list of ports, e.g. 9090,9100')
  .transform((s) => (s === '' ? [] : s.split(',').map(Number)))
  .refine((ports) => ports.every((p) => p >= 1 && p <= 65535), 'every port must be between 1 and 65535');

/** An address a peer on a link can have: not 0/8, loopback, multicast or broadcast. */
const unicastIpv4 = ipv4Schema.refine(isUnicastIpv4, 'must be a unicast address of a host on the link');

/** The variables one by one; agentConfigSchema adds the checks that span several. */
export const agentConfigFields = z.object({
  PGW_LOG_LEVEL: fields.logLevel,
  PGW_DATABASE_URL: fields.postgresUrl,
  PGW_REDIS_URL: fields.redisUrl,
  PGW_METRICS_HOST: fields.listenHost.default('127.0.0.1'),
  PGW_METRICS_PORT: fields.tcpPort.default(9101),
  /** Names the metrics port answers to besides IP addresses and localhost (DNS rebinding: any other Host gets 421). */
  PGW_METRICS_HOSTNAMES: fields.hostNames,
  PGW_STATE_DIR: absolutePath.default('/var/lib/pgw/agent'),
  PGW_RESYNC_INTERVAL_MS: fields.positiveInt(1000, 2000),
  PGW_NFT_BIN: absolutePath.default('/usr/sbin/nft'),
  /** The static guard table, re-loaded by the self-heal exactly as the boot guard loads it (checked at start). */
  PGW_GUARD_FILE: absolutePath.default(INSTALLED_GUARD_FILE),
  PGW_IP_BIN: absolutePath.default('/usr/sbin/ip'),
  /** Per-client rate limits (issue 16): tc in the agent's namespace. */
  PGW_TC_BIN: absolutePath.default('/usr/sbin/tc'),
  /** How often the kernel's quota objects are read for the status record (the block itself is the kernel's, at once). */
  PGW_QUOTA_POLL_MS: fields.positiveInt(250, 2000),
  /** How often the per-client counters are read and published (docs/contracts.md, "Client usage"). */
  PGW_USAGE_INTERVAL_MS: fields.positiveInt(CLIENT_USAGE_INTERVAL_MS, 60_000),
  PGW_FORWARDER_USER: userName.default('pgw'),
  PGW_HEALTH_USER: userName.default('pgw-health'),
  /** Where proxies may be although the proxy check refuses them (as the api, forwarder and health have it): strict OUTPUT's upstreams. */
  PGW_PROXY_ALLOW_CIDRS: networkListSchema.default([]),
  /** Where the agent hands the forwarder its listening sockets (docs/ARCHITECTURE.md, "Listening sockets"). */
  PGW_LISTENER_SOCKET: fields.unixSocketPath.default('/run/pgw/listeners.sock'),
  // Ports of pgw's other services, never a forwarder port (a client DNAT-ed there would reach them).
  PGW_FORWARDER_METRICS_PORT: fields.tcpPort.default(9102),
  PGW_HEALTH_METRICS_PORT: fields.tcpPort.default(9103),
  PGW_API_PORT: fields.tcpPort.default(8080),
  PGW_API_METRICS_PORT: fields.tcpPort.default(9104),
  /**
   * The most connections each client may have tracked in the kernel at once (docs/SECURITY.md flow
   * 23): one client's flood of new connections (SYNs it never completes, UDP to many ports) would
   * otherwise fill the conntrack table, and every client's new connections are then dropped.
   */
  PGW_FLOWS_PER_CLIENT: fields.positiveInt(4096, MAX_FLOWS_PER_CLIENT),
  /**
   * TPROXY mode: UDP datagrams per second each client may send in flows not yet answered (docs/
   * SECURITY.md flow 24). They share one socket with every client's new flows and DNS queries: one
   * client's flood at a destination that never answers filled it, and the others' were dropped.
   */
  PGW_UDP_NEW_PER_CLIENT: fields.positiveInt(200, MAX_UDP_NEW_PER_SECOND),
  /**
   * New TCP connections per second each client may open (docs/SECURITY.md flow 25), as many at
   * once; past it their SYNs are dropped (sent again by the client a second later). Each is a dial
   * through a proxy: one client's flood of short connections took the forwarder's time from all.
   */
  PGW_TCP_NEW_PER_CLIENT: fields.positiveInt(1000, MAX_TCP_NEW_PER_SECOND),
  /** Further ports no client may be DNAT-ed to (e.g. Prometheus, node_exporter). */
  PGW_RESERVED_PORTS: portList.default([]),
  /** This gateway's name: the key of its status records (both nodes of an HA pair run an agent). */
  PGW_NODE_NAME: nodeNameSetting(hostname()),
  /** The file keepalived's notify hook writes (deploy/keepalived, issue 18); unset: not part of an HA pair. */
  PGW_HA_STATE_FILE: absolutePath.optional(),
  /**
   * The HA peer's address on the VRRP link, and that link (the names deploy/keepalived/render.ts
   * reads): VRRP from anyone else is dropped before keepalived reads it (docs/SECURITY.md flow 22).
   * Both or neither.
   */
  PGW_HA_PEER_IP: unicastIpv4.optional(),
  PGW_HA_VRRP_IF: interfaceNameSchema.optional(),
});

/**
 * The HA peer is its address and its link, so both or neither; and a node of an HA pair (it reports
 * keepalived's state) names it: without it VRRP from any host on the link reaches keepalived.
 */
export const agentConfigSchema = agentConfigFields.superRefine((c, ctx) => {
  const need = (name: 'PGW_HA_PEER_IP' | 'PGW_HA_VRRP_IF', because: string) => {
    if (c[name] === undefined) ctx.addIssue({ code: 'custom', path: [name], message: `required when ${because} is set (docs/DEPLOYMENT.md, "HA pair")` });
  };
  const set = (['PGW_HA_STATE_FILE', 'PGW_HA_PEER_IP', 'PGW_HA_VRRP_IF'] as const).find((name) => c[name] !== undefined);
  if (set === undefined) return;
  need('PGW_HA_PEER_IP', set);
  need('PGW_HA_VRRP_IF', set);
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** The HA peer of PGW_HA_PEER_IP on PGW_HA_VRRP_IF; undefined: not part of an HA pair. */
export function vrrpPeerOf(config: AgentConfig): VrrpPeer | undefined {
  return config.PGW_HA_PEER_IP && config.PGW_HA_VRRP_IF ? { ip: config.PGW_HA_PEER_IP, interface: config.PGW_HA_VRRP_IF } : undefined;
}

/**
 * A saved policy (the state file) under this start's environment, which, not the file, says whom
 * VRRP is taken from, each client's cap of tracked connections and its rates of new TCP connections and unanswered UDP. A
 * peer changed while Postgres is away would otherwise stay filtered out by the file's rule until the
 * database answered, and both nodes would claim the address; a file from before a limit existed
 * would enforce none.
 */
export function underEnvironment(policy: GatewayPolicy, config: AgentConfig): GatewayPolicy {
  const { vrrpPeer: _saved, ...rest } = policy;
  const peer = vrrpPeerOf(config);
  return { ...rest, ...(peer ? { vrrpPeer: peer } : {}), flowsPerClient: config.PGW_FLOWS_PER_CLIENT, udpNewPerSecond: config.PGW_UDP_NEW_PER_CLIENT, tcpNewPerSecond: config.PGW_TCP_NEW_PER_CLIENT };
}

/** The variables of agentConfigSchema that hold passwords: the agent keeps them from its tools (withdrawFromEnvironment). */
export const AGENT_CREDENTIALS = ['PGW_DATABASE_URL', 'PGW_REDIS_URL'] as const;

export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return loadConfig(agentConfigSchema, env);
}

/** Port -> what it is, for the agent's port checks and its refusal messages. */
export function reservedPorts(config: AgentConfig): Map<number, string> {
  const entries: [number, string][] = [
    [config.PGW_METRICS_PORT, 'pgw-agent metrics'],
    [config.PGW_FORWARDER_METRICS_PORT, 'pgw-forwarder metrics'],
    [config.PGW_HEALTH_METRICS_PORT, 'pgw-health metrics'],
    [config.PGW_API_PORT, 'the pgw-api port'],
    [config.PGW_API_METRICS_PORT, 'pgw-api metrics'],
    // Not listened on while that service restarts: a mapping given the port meanwhile would have the
    // agent bind it, and every service's next connection, its credentials first, reach the forwarder.
    // The default port too for a socket URL: the server may listen on both.
    [fields.postgresUrlPort(config.PGW_DATABASE_URL) ?? 5432, 'pgw’s Postgres (PGW_DATABASE_URL)'],
    [fields.redisUrlPort(config.PGW_REDIS_URL) ?? 6379, 'pgw’s Redis (PGW_REDIS_URL)'],
    ...config.PGW_RESERVED_PORTS.map((port): [number, string] => [port, 'reserved (PGW_RESERVED_PORTS)']),
  ];
  const reserved = new Map<number, string>();
  for (const [port, what] of entries) if (!reserved.has(port)) reserved.set(port, what);
  return reserved;
}
