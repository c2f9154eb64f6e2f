import { hostname } from 'node:os';
import { fields, loadConfig } from '@pgw/config';
import type { WarmPoolSettings } from '@pgw/dialers';
import { networkListSchema } from '@pgw/domain';
import { nodeNameSetting } from '@pgw/events/contracts';
import { z } from 'zod';
import { DIAL_MODES, type DialMode } from './tcp/native-dial.js';
import { RELAY_MODES, type RelayMode } from './tcp/relay.js';

/** Every PGW_* variable the forwarder reads (see .env.template, forwarder section). */
export const forwarderEnvSchema = z
  .object({
    PGW_LOG_LEVEL: fields.logLevel,
    PGW_DATABASE_URL: fields.postgresUrl,
    PGW_REDIS_URL: fields.redisUrl,
    PGW_SECRET_KEY: fields.secretKey,
    PGW_METRICS_HOST: fields.listenHost.default('127.0.0.1'),
    PGW_METRICS_PORT: fields.tcpPort.default(9102),
    /** Names the metrics port answers to besides IP addresses and localhost (DNS rebinding: any other Host gets 421). */
    PGW_METRICS_HOSTNAMES: fields.hostNames,
    /** This gateway's name, the key of its status record (the agent's PGW_NODE_NAME: both nodes of an HA pair run a forwarder). */
    PGW_NODE_NAME: nodeNameSetting(hostname()),
    PGW_LISTENER_SOCKET: fields.unixSocketPath.default('/run/pgw/listeners.sock'),
    PGW_FORWARDER_STATE_DIR: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/var/lib/pgw/forwarder'),
    PGW_MAX_CONNECTIONS: fields.positiveInt(20_000, 1_000_000),
    PGW_MAX_CONNECTIONS_PER_MAPPING: fields.positiveInt(1024, 1_000_000),
    PGW_CONNECT_TIMEOUT_MS: fields.positiveInt(5_000, 120_000),
    PGW_IDLE_TIMEOUT_MS: fields.positiveInt(300_000, 7 * 24 * 3_600_000),
    PGW_UPSTREAM_FAILURE_THRESHOLD: fields.positiveInt(3, 1_000),
    PGW_FORWARDER_RESYNC_INTERVAL_MS: fields.positiveInt(2_000, 60_000),
    PGW_FORWARDER_DRAIN_TIMEOUT_MS: fields.positiveInt(5_000, 600_000),
    // splice: the kernel moves the bytes (throughput at or above redsocks'); js stays for A/B runs and
    // is what a relay falls back to where splice(2) is unavailable (docs/ARCHITECTURE.md, "The relay").
    PGW_FORWARDER_RELAY: z.enum(RELAY_MODES).default('splice'),
    // native: the upstream connect and the SOCKS5/HTTP CONNECT exchanges in the addon, for spliced
    // relays (issue 12: 40 % less CPU per connection in A/B runs, docs/benchmarks.md); js: the
    // JavaScript dialers, which stay the reference (health probes, the js relay, A/B runs).
    PGW_FORWARDER_DIAL: z.enum(DIAL_MODES).default('native'),
    // The native dial's first request in the SYN, toward proxy hosts that gave this host a TCP Fast
    // Open cookie (a cold connection saves the TCP handshake's round trip; docs/OPERATIONS.md).
    PGW_FORWARDER_TCP_FASTOPEN: fields.booleanFlag(true),
    PGW_PROXY_ALLOW_CIDRS: networkListSchema.default([]),
    // Warm connections per proxy (issue 12.4, docs/ARCHITECTURE.md "Warm connections").
    PGW_FORWARDER_WARM_POOL: fields.booleanFlag(true),
    PGW_FORWARDER_WARM_MAX_AGE_MS: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(200, 'must be at least 200').max(60_000, 'must be at most 60000').default(3_000),
    PGW_FORWARDER_WARM_MAX_PER_PROXY: fields.positiveInt(4, 64),
  })
  .refine((env) => env.PGW_MAX_CONNECTIONS_PER_MAPPING <= env.PGW_MAX_CONNECTIONS, {
    message: 'must not be above PGW_MAX_CONNECTIONS',
    path: ['PGW_MAX_CONNECTIONS_PER_MAPPING'],
  });

export interface ForwarderConfig {
  readonly logLevel: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly secretKey: Buffer;
  readonly metricsHost: string;
  readonly metricsPort: number;
  /** PGW_METRICS_HOSTNAMES: names the metrics port answers to besides IP addresses and localhost. */
  readonly metricsHostNames: readonly string[];
  readonly nodeName: string;
  /** The agent's listener socket: the agent creates and holds the mapped ports' listening sockets. */
  readonly listenerSocket: string;
  /** Where the last desired state from Postgres is kept, served at a start while Postgres is unreachable. */
  readonly stateDir: string;
  readonly maxConnections: number;
  readonly maxConnectionsPerMapping: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly upstreamFailureThreshold: number;
  readonly resyncIntervalMs: number;
  readonly drainTimeoutMs: number;
  /** splice: the kernel moves a relayed connection's bytes (native addon); js: net.Socket reads and writes. */
  readonly relayMode: RelayMode;
  /** native: the upstream dial in the addon when the relay is spliced; js: the JavaScript dialers. */
  readonly dialMode: DialMode;
  /** TCP Fast Open on the native dial's new connections (used only toward a proxy host that gave a cookie). */
  readonly fastOpen: boolean;
  /** Networks where proxies may be although loopback, link-local or LAN (e.g. a proxy client on the gateway). */
  readonly proxyAllowNetworks: readonly string[];
  /** Warm connections to each proxy in use, waiting for a CONNECT; null: off (every connection dials). */
  readonly warmPool: WarmPoolSettings | null;
}

/** A proxy with no client connection for this long gets no warm connection. */
const WARM_DEMAND_WINDOW_MS = 30_000;

/** Throws ConfigError with one line naming the first bad variable. */
export function loadForwarderConfig(env: NodeJS.ProcessEnv = process.env): ForwarderConfig {
  const e = loadConfig(forwarderEnvSchema, env);
  return {
    logLevel: e.PGW_LOG_LEVEL,
    databaseUrl: e.PGW_DATABASE_URL,
    redisUrl: e.PGW_REDIS_URL,
    secretKey: e.PGW_SECRET_KEY,
    metricsHost: e.PGW_METRICS_HOST,
    metricsPort: e.PGW_METRICS_PORT,
    metricsHostNames: e.PGW_METRICS_HOSTNAMES,
    nodeName: e.PGW_NODE_NAME,
    listenerSocket: e.PGW_LISTENER_SOCKET,
    stateDir: e.PGW_FORWARDER_STATE_DIR,
    maxConnections: e.PGW_MAX_CONNECTIONS,
    maxConnectionsPerMapping: e.PGW_MAX_CONNECTIONS_PER_MAPPING,
    connectTimeoutMs: e.PGW_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: e.PGW_IDLE_TIMEOUT_MS,
    upstreamFailureThreshold: e.PGW_UPSTREAM_FAILURE_THRESHOLD,
    resyncIntervalMs: e.PGW_FORWARDER_RESYNC_INTERVAL_MS,
    drainTimeoutMs: e.PGW_FORWARDER_DRAIN_TIMEOUT_MS,
    relayMode: e.PGW_FORWARDER_RELAY,
    dialMode: e.PGW_FORWARDER_DIAL,
    fastOpen: e.PGW_FORWARDER_TCP_FASTOPEN,
    proxyAllowNetworks: e.PGW_PROXY_ALLOW_CIDRS,
    warmPool: e.PGW_FORWARDER_WARM_POOL
      ? { maxAgeMs: e.PGW_FORWARDER_WARM_MAX_AGE_MS, maxPerProxy: e.PGW_FORWARDER_WARM_MAX_PER_PROXY, demandWindowMs: WARM_DEMAND_WINDOW_MS }
      : null,
  };
}
