import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { PasswordSealer } from '@pgw/crypto';
import { createDb, refuseWiderLogin } from '@pgw/db';
import { connectRedis, EventBus } from '@pgw/events';
import type { Logger } from '@pgw/log';
import { createMetricsRegistry, serveMetricsWhenFree } from '@pgw/metrics';
import { doubleCsrf } from 'csrf-csrf';
import { createApp } from './app.js';
import { createLoginMetrics } from './auth/login-metrics.js';
import { DeviceCookies } from './auth/device-cookies.js';
import { LoginThrottle, type ThrottleLimits } from './auth/login-throttle.js';
import { dummyPasswordHash } from './auth/passwords.js';
import { SessionCache } from './auth/session-cache.js';
import { TokenIssuer } from './auth/tokens.js';
import { WorkGate } from './logic/work-gate.js';
import type { ApiConfig } from './config.js';
import type { ApiContext } from './context.js';
import { EventFanout } from './live/event-fanout.js';
import { ensureFirstAdmin } from './first-admin.js';
import { CSRF_COOKIE } from './http/authenticate.js';
import { drainServer } from './http/drain.js';
import { Notifier } from './live/notifier.js';
import { API_SPEC_PATH, DEFAULT_UI_DIR } from './paths.js';
import { plainHttpExposure } from './logic/plain-http.js';
import { ProbeGate } from './services/probe-gate.js';
import { readComponentStatus, readNodes } from './reports/component-status-reader.js';
import { auditReader } from './repositories/audit.js';
import { readNeighbours } from './reports/neighbour-reader.js';
import { dashboardCounts } from './repositories/status.js';
import { createStore } from './repositories/store.js';
import { purgeExpiredRevocations } from './repositories/users.js';
import { createServices } from './services/api-services.js';
import { listenApi } from './http/listen-api.js';
import { SseStreams } from './live/sse-streams.js';
import { UsageRecorder } from './repositories/usage-recorder.js';
import { usageHistory } from './repositories/usage.js';


export interface StartApiOptions {
  config: ApiConfig;
  logger: Logger;
  /** Tests isolate themselves with their own stream and BullMQ prefix; production uses the defaults. */
  stream?: string;
  queuePrefix?: string;
  /** The agents' usage hash (default CLIENT_USAGE_KEY); a test writes its own samples there. */
  usageKey?: string;
  validateResponses?: boolean;
  sseHeartbeatMs?: number;
  probeWaitMarginMs?: number;
  throttle?: ThrottleLimits;
  dbConnections?: number;
  /** How long an audit search may run before Postgres cancels it (default 10 s); tests shorten it. */
  auditSearchTimeoutMs?: number;
  /** How long a stop lets requests in flight finish; below runService's 10 s stop timeout. */
  drainDeadlineMs?: number;
  /** Listening sockets systemd passed (takeListenFds): the api serves the one it is given instead of binding. */
  listenFds?: readonly number[];
}

export interface RunningApi {
  readonly url: string;
  /** The metrics listener: `${metricsUrl}/metrics`. */
  readonly metricsUrl: string;
  readonly ctx: ApiContext;
  /** The accounting writer; tests call poll() instead of waiting for its timer. */
  readonly usageRecorder: UsageRecorder;
  readonly server: Server;
  stop(): Promise<void>;
}

export async function startApi(options: StartApiOptions): Promise<RunningApi> {
  const { config, logger } = options;
  const db = createDb(config.PGW_DATABASE_URL, { applicationName: 'pgw-api', maxConnections: options.dbConnections ?? 10, serviceRole: 'pgw_api' });
  await refuseWiderLogin(db).catch(async (error: unknown) => {
    await db.destroy();
    throw error;
  });
  const redis = connectRedis(config.PGW_REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const bus = new EventBus({ redisUrl: config.PGW_REDIS_URL, logger, ...(options.stream ? { stream: options.stream } : {}) });
  const probes = new ProbeGate({ redisUrl: config.PGW_REDIS_URL, ...(options.queuePrefix ? { prefix: options.queuePrefix } : {}) });
  // csrf-csrf (double submit, HMAC-bound to the session's jti) replaces csurf, which is deprecated and archived.
  const csrf = doubleCsrf({
    getSecret: () => config.PGW_CSRF_SECRET,
    getSessionIdentifier: (req) => req.auth?.jti ?? '',
    cookieName: CSRF_COOKIE,
    cookieOptions: { sameSite: 'strict', path: '/', httpOnly: true },
    getCsrfTokenFromRequest: (req) => req.get('x-csrf-token'),
  });
  const registry = createMetricsRegistry('api');
  const usage = new UsageRecorder({ db, redis, logger, ...(options.usageKey ? { key: options.usageKey } : {}) });
  const ctx: ApiContext = {
    db,
    redis,
    bus,
    events: new EventFanout(bus),
    services: createServices({
      store: createStore(db),
      // A search holds one of the pool's ten connections, which every request shares: 400k rows
      // take about 1.6 s on a small box.
      auditReader: auditReader(db, options.auditSearchTimeoutMs ?? 10_000),
      prober: probes,
      publisher: new Notifier(bus, logger),
      components: () => readComponentStatus(redis),
      dashboardCounts: () => dashboardCounts(db),
      nodes: () => readNodes(redis),
      neighbours: () => readNeighbours(redis),
      usageHistory: usageHistory(db),
      quotaCounts: async () => usage.quotaCounts(),
      sealer: new PasswordSealer(config.PGW_SECRET_PUBLIC_KEY),
      allowedNetworks: config.PGW_PROXY_ALLOW_CIDRS,
      probeWaitMarginMs: options.probeWaitMarginMs ?? 5_000,
    }),
    tokens: new TokenIssuer(config.PGW_JWT_SECRET, config.PGW_TOKEN_TTL_S),
    sessions: new SessionCache(),
    throttle: new LoginThrottle(options.throttle),
    devices: new DeviceCookies(config.PGW_JWT_SECRET),
    // One argon2 at a time (64 MiB each; on 2 cores a second one in parallel gains little, measured
    // ~90 ms alone vs ~75 ms each 8 at once), and up to 8 waiting (under a second): beyond that a
    // login gets 429 with Retry-After instead of holding memory.
    passwordGate: new WorkGate(1, 8),
    loginMetrics: createLoginMetrics(registry),
    csrf,
    logger,
    sseHeartbeatMs: options.sseHeartbeatMs ?? 15_000,
    streams: new SseStreams(),
  };
  try {
    // The unknown-user hash is made before the first login: made by that login, it made the first
    // unknown name answer slower than a known one's wrong password (which names exist, once per start).
    await Promise.all([ensureFirstAdmin(db, logger, { username: config.PGW_ADMIN_USERNAME, password: config.PGW_ADMIN_PASSWORD }), dummyPasswordHash()]);
  } catch (error) {
    await Promise.allSettled([db.destroy(), bus.close(), probes.close()]);
    redis.disconnect();
    throw new Error(`cannot reach Postgres or create the first admin: ${(error as Error).message}`);
  }
  const uiDir = config.PGW_UI_DIR ?? DEFAULT_UI_DIR;
  // Without its index.html the console is off: said once, the api serves as usual.
  if (!existsSync(join(uiDir, 'index.html'))) logger.warn('no built console (index.html) in the UI directory: the console is off', { uiDir, variable: 'PGW_UI_DIR' });
  const app = createApp(ctx, {
    specPath: API_SPEC_PATH,
    uiDir,
    trustProxy: config.PGW_TRUST_PROXY,
    hostNames: config.PGW_API_HOSTNAMES,
    validateResponses: options.validateResponses ?? false,
    registry,
  });
  const tls = config.PGW_TLS_CERT_FILE && config.PGW_TLS_KEY_FILE;
  const server = tls
    ? createHttpsServer({ cert: readFileSync(config.PGW_TLS_CERT_FILE!), key: readFileSync(config.PGW_TLS_KEY_FILE!) }, app)
    : createHttpServer(app);
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  const metricsPort = await serveMetricsWhenFree(registry, config.PGW_API_METRICS_HOST, config.PGW_API_METRICS_PORT, {
    taken: (error) => logger.error('the metrics port is held by another process: serving the api without /metrics until it is free', { port: config.PGW_API_METRICS_PORT, error: error.message }),
    bound: () => logger.info('metrics port free again: serving /metrics', { port: config.PGW_API_METRICS_PORT }),
  }, { hosts: { names: new Set(config.PGW_API_HOSTNAMES), variable: 'PGW_API_HOSTNAMES' } });
  await listenApi(server, config, options.listenFds ?? []).catch(async (error: unknown) => {
    await metricsPort.close();
    throw error;
  });
  usage.start();
  const purge = setInterval(() => void purgeExpiredRevocations(db).catch(() => undefined), 3_600_000);
  purge.unref();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  // Where it listens; while the port is taken, where it will (the configured address).
  const metricsAddress = metricsPort.address() ?? { address: config.PGW_API_METRICS_HOST, family: isIPv6(config.PGW_API_METRICS_HOST) ? 'IPv6' : 'IPv4', port: config.PGW_API_METRICS_PORT };
  const metricsUrl = `http://${metricsAddress.family === 'IPv6' ? `[${metricsAddress.address}]` : metricsAddress.address}:${metricsAddress.port}`;
  logger.info('listening', { url: `${tls ? 'https' : 'http'}://${host}:${address.port}`, metrics: metricsUrl });
  const exposure = plainHttpExposure(address.address, { tls: Boolean(tls), trustProxy: config.PGW_TRUST_PROXY, publishedOnLoopback: config.PGW_API_PUBLISHED_ON_LOOPBACK });
  if (exposure !== null) logger.warn(exposure);
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${address.port}`,
    metricsUrl,
    ctx,
    usageRecorder: usage,
    server,
    stop: async () => {
      clearInterval(purge);
      await usage.stop();
      await metricsPort.close();
      await drainServer(server, ctx.streams, options.drainDeadlineMs ?? 5_000, logger);
      await Promise.allSettled([bus.close(), probes.close()]);
      redis.disconnect();
      await db.destroy();
    },
  };
}
