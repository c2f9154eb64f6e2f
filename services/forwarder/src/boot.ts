import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import { DialError } from '@pgw/dialers';
import { spliceUnavailable } from '@pgw/original-dst';
import type { Logger } from '@pgw/log';
import { PerKeyDebouncer, timerDelay } from '@pgw/runtime';
import { AgentListeners } from './tcp/agent-listeners.js';
import type { ForwarderConfig } from './config.js';
import { ConnectionLimits } from './tcp/connection-limits.js';
import { CredentialOpener } from './routes/credential-opener.js';
import { DestinationGuard, proxyRefusalOf } from './routes/destination-guard.js';
import { DnsUpstreamSetting } from './dns/dns-upstream-setting.js';
import { Forwarder } from './tcp/forwarder.js';
import type { ForwarderMetrics } from './observability/forwarder-metrics.js';
import { ForwarderStats } from './tcp/forwarder-stats.js';
import type { ListenerContext } from './tcp/mapping-listener.js';
import { type DialMode, type NativeWarm, nativeWarmConnector } from './tcp/native-dial.js';
import { Reconciler } from './routes/reconciler.js';
import { buildRoutes, type RouteProblem } from './routes/routes.js';
import { type ForwarderState, ForwarderStateCache } from './routes/state-cache.js';
import { type FailureNotice, UpstreamFailureTracker } from './tcp/upstream-failures.js';
import { UdpAgentSockets } from './udp/udp-agent-sockets.js';
import { DEFAULT_UDP_LIMITS } from './udp/udp-limits.js';
import { UdpRelay } from './udp/udp-relay.js';
import { WarmPools } from './tcp/warm-pools.js';

/** At most one upstream-failure notice per proxy this often while its dials keep failing. */
const UPSTREAM_NOTICE_DEBOUNCE_MS = 5_000;
/** The first and the longest wait before listeners that failed to open are asked for again. */
const LISTEN_RETRY_FIRST_MS = 500;
const LISTEN_RETRY_MAX_MS = 8_000;

/**
 * What service.ts wires in once its heavy modules (Postgres, Redis, metrics) are loaded. Until
 * then the forwarder serves its cached state, counts in plain fields and publishes nothing.
 */
export interface LateWiring {
  metrics?: ForwarderMetrics;
  publish?: (notice: FailureNotice) => Promise<unknown>;
  /** The desired state from Postgres (the cache until it is set). */
  load?: () => Promise<ForwarderState>;
}

/** The serving part of the forwarder, created by the boot fast path and completed by service.ts. */
export interface ForwarderCore {
  readonly limits: ConnectionLimits;
  readonly stats: ForwarderStats;
  /** The upstream-failure notices to the health service, one per proxy per window (stopped with the service). */
  readonly upstreamNotices: PerKeyDebouncer<number>;
  readonly destinations: DestinationGuard;
  readonly stopAddressWatch: () => void;
  readonly agentListeners: AgentListeners;
  readonly forwarder: Forwarder;
  /** null: PGW_FORWARDER_WARM_POOL off. */
  readonly warmPools: WarmPools<Socket> | WarmPools<NativeWarm> | null;
  readonly stateCache: ForwarderStateCache;
  readonly reconciler: Reconciler;
  /** TPROXY mode's UDP relay (issue 15) and its channel to the agent for transparent UDP sockets. */
  readonly udp: { readonly relay: UdpRelay; readonly sockets: UdpAgentSockets };
  readonly late: LateWiring;
  /** The cached state served before Postgres was asked: when, and how many mappings (null: no cache). */
  readonly early: { readonly ms: number; readonly mappings: number } | null;
  /**
   * Resolves once the cached state is served (its listeners open on the agent's sockets), at once
   * when there is no cache: main.ts loads the heavy modules only then, so their second of CPU does
   * not delay the listeners.
   */
  readonly served: Promise<void>;
}

/** Where the boot fast path's time went, ms since the process started (performance.now()). */
interface BootTimeline {
  /** Node's own bootstrap done. */
  node: number;
  /** main.ts runs: the fast path's modules are loaded. */
  modules: number;
  /** The config validated and the logger made. */
  config: number;
  cacheRead: number;
  agentConnected?: number;
  /** The agent's listening sockets received. */
  sockets?: number;
  /** Listening on all of them: the cached state is served. */
  listening?: number;
  /** The first client's upstream connected (a dial or a warm connection's CONNECT answered). */
  firstRelayed?: number;
}

/**
 * The boot fast path, as the agent's boot.ts: the listening sockets from the agent and the cached
 * desired state are served before the database, Redis and metrics modules load (about a second of
 * CPU on a small box), so a rebooted gateway's clients are relayed as soon as the agent enforces
 * its state file. The cache is what was last loaded from Postgres; service.ts replaces it with
 * Postgres' answer as soon as it has one (a stale route lives only that long, as the agent's).
 */
export async function serveCachedStateEarly(config: ForwarderConfig, logger: Logger, mainStartedMs: number): Promise<ForwarderCore> {
  const started = performance.now();
  const timeline: BootTimeline = { node: performance.nodeTiming.bootstrapComplete, modules: mainStartedMs, config: started, cacheRead: 0 };
  let markServed: () => void = () => undefined;
  const served = new Promise<void>((resolve) => (markServed = resolve));
  /** Until it is served, every run applies the cache, not Postgres' answer: that may take seconds. */
  let cacheServed = false;
  const late: LateWiring = {};
  const limits = new ConnectionLimits(config.maxConnections, config.maxConnectionsPerMapping);
  const stats = new ForwarderStats();
  const failures = new UpstreamFailureTracker(config.upstreamFailureThreshold);
  // One notice per proxy at once, then at most one per window, the failures within it told at its end.
  const upstreamNotices = new PerKeyDebouncer<number>(UPSTREAM_NOTICE_DEBOUNCE_MS, (proxyId) => {
    const notice = failures.notice(proxyId);
    if (notice === null) return; // a success ended the streak meanwhile
    logger.warn('upstream keeps failing, telling the health service', { ...notice });
    if (!late.publish) return void logger.warn('cannot publish the upstream failure notice yet (starting)', { proxyId: notice.proxyId });
    late.publish(notice).catch((publishError: Error) => logger.warn('cannot publish the upstream failure notice', { proxyId: notice.proxyId, error: publishError.message }));
  });
  const destinations = new DestinationGuard(config.proxyAllowNetworks);
  destinations.onAddressReadError = (error) => logger.warn("cannot re-read the gateway's own addresses: the last ones read stay in force", { error: error.message });
  const stopAddressWatch = destinations.watch();
  /** dnsMode and dnsUpstream (issue 15): read by the UDP relay and by the listeners for TCP/53. */
  const dns = new DnsUpstreamSetting();

  // The native dial ends in the kernel relay: only where that relay is in use and splice(2) works here.
  const dialMode: DialMode = config.dialMode === 'native' && config.relayMode === 'splice' && spliceUnavailable() === null ? 'native' : 'js';
  if (dialMode !== config.dialMode) logger.warn('PGW_FORWARDER_DIAL=native needs the splice relay; dialing with the JavaScript dialers', { relay: config.relayMode, splice: spliceUnavailable() ?? 'available' });
  const warmOpen = { timeoutMs: config.connectTimeoutMs, allowHalfOpen: true, checkProxyAddress: destinations.checkProxyAddress };
  const warmPools = config.warmPool === null ? null : dialMode === 'native' ? new WarmPools<NativeWarm>(config.warmPool, warmOpen, nativeWarmConnector(config.fastOpen)) : new WarmPools(config.warmPool, warmOpen);
  const ctx: ListenerContext = {
    limits,
    stats,
    connectTimeoutMs: config.connectTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    relayMode: config.relayMode,
    dialMode,
    fastOpen: config.fastOpen,
    destinations,
    dns,
    warmPools,
    // A listener opened before the metrics exist observes through them once they do.
    connectObserver: (proxyId) => (seconds) => late.metrics?.connectObserver(proxyId)(seconds),
    dialSucceeded(proxyId) {
      failures.success(proxyId);
      upstreamNotices.forget(proxyId);
      if (timeline.firstRelayed === undefined && timeline.listening !== undefined) {
        timeline.firstRelayed = performance.now();
        logger.info('first connection relayed', { msSinceProcessStart: Math.round(timeline.firstRelayed) });
      }
    },
    dialFailed(route, error) {
      const forbidden = proxyRefusalOf(error);
      // Not the proxy failing: it is where no proxy may be. Counted and logged, not reported to health.
      if (forbidden !== null) {
        stats.refused(forbidden);
        if (logger.isDebugEnabled()) logger.debug('proxy address refused', { mappingId: route.mappingId, proxyId: route.proxyId, error: (error as Error).message });
        return;
      }
      const reason = error instanceof DialError ? error.reason : 'connect_failed';
      stats.failure(reason);
      if (logger.isDebugEnabled()) logger.debug('dial failed', { mappingId: route.mappingId, proxyId: route.proxyId, error: (error as Error).message });
      if (failures.failure(route.proxyId, reason)) upstreamNotices.notify(route.proxyId);
    },
    acceptFailed(route, error) {
      stats.failure('accept_error');
      if (logger.isDebugEnabled()) logger.debug('accept failed', { mappingId: route.mappingId, error: error.message });
    },
  };
  // The listening sockets are the agent's (it holds every mapped port); ours are duplicates.
  const agentListeners: AgentListeners = new AgentListeners(
    {
      path: config.listenerSocket,
      inventory: () => forwarder.inventory(),
      // Asked for anew by the apply onConnected starts.
      handbackRefused: (ports) => void forwarder.dropListeners(ports),
      // Connected (at start, or the agent restarted): apply what we know, so its sockets are asked for.
      onConnected: () => {
        timeline.agentConnected ??= performance.now();
        if (cached !== null || late.load) void reconciler.request();
      },
    },
    logger,
  );
  const timedSource = {
    acquire: async (ports: readonly number[]) => {
      const sockets = await agentListeners.acquire(ports);
      timeline.sockets ??= performance.now();
      return sockets;
    },
  };
  const forwarder: Forwarder = new Forwarder(ctx, timedSource, logger, () => void reconciler.request());
  const udpSockets: UdpAgentSockets = new UdpAgentSockets(config.listenerSocket, () => void udpRelay.attach(), logger);
  const udpRelay = new UdpRelay(udpSockets, { connectTimeoutMs: config.connectTimeoutMs, limits: DEFAULT_UDP_LIMITS, destinations, dns }, logger);
  // A tightened policy (private ranges denied, an address the gateway took, a proxy now in the LAN)
  // ends the live connections and UDP flows it refuses.
  destinations.onChange = () => {
    forwarder.enforceDestinations();
    const flows = udpRelay.enforceProxies();
    if (flows > 0) logger.warn('UDP flows ended: the proxy-address policy now refuses their proxy or its relay', { flows });
  };
  const opener = new CredentialOpener(config.secretKey);
  const stateCache = new ForwarderStateCache(config.stateDir);

  const cached: ForwarderState | null = await stateCache.load().catch((error: Error) => {
    logger.error('desired state cache unusable', { error: error.message });
    return null;
  });
  timeline.cacheRead = performance.now();
  if (cached === null) markServed();
  const load = async (): Promise<ForwarderState> => {
    if (late.load && (cacheServed || cached === null)) return late.load();
    if (cached === null) throw new Error('no cached desired state, and Postgres not asked yet');
    return cached;
  };
  let lastProblems = '';
  /** A run when a recovered proxy's hold-down ends (issue 17): its clients move back then, not at the next resync. */
  let recheck: NodeJS.Timeout | undefined;
  /**
   * A run soon after listeners failed to open: the agent refuses a port it does not hold yet (its
   * run for the same notice may still be going) and tells nobody when it does; the next resync may
   * be a minute away. Backs off while they keep failing.
   */
  let listenRetry: NodeJS.Timeout | undefined;
  let listenRetryMs = LISTEN_RETRY_FIRST_MS;
  let listenRetrying: ReadonlySet<number> = new Set();
  const reconciler = new Reconciler(async () => {
    const state = await load();
    destinations.configure(state.settings);
    dns.configure(state.settings);
    if (udpRelay.configure(state.settings)) {
      const flows = udpRelay.enforceProxies();
      if (flows > 0) logger.warn('UDP flows ended: strict OUTPUT refuses their relay away from the proxy', { flows });
    }
    const table = buildRoutes(state, opener.open);
    opener.endLoad();
    clearTimeout(recheck);
    // A hold-down end beyond what setTimeout keeps (a clock far behind the proxies' status times) fires at its longest delay, not after 1 ms at every run.
    if (table.recheckAt != null) recheck = setTimeout(() => void reconciler.request(), timerDelay(table.recheckAt + 1, Date.now())).unref();
    const problems = describeProblems(table.problems);
    if (problems !== lastProblems) {
      if (table.problems.length > 0) logger.warn('mappings without a listener', { problems: table.problems });
      lastProblems = problems;
    }
    // UDP first: its routes need nothing of the agent, while the TCP apply may wait on it (new
    // listeners) for seconds, and a client blocked, moved or denied private ranges meanwhile must
    // not keep its UDP flows under the old routes that long.
    udpRelay.apply(table.routes);
    const result = await forwarder.apply(table);
    clearTimeout(listenRetry);
    // A mapping newly failing starts from the first wait, whatever the backoff of one failing for long.
    if (result.failedMappings.some((id) => !listenRetrying.has(id))) listenRetryMs = LISTEN_RETRY_FIRST_MS;
    listenRetrying = new Set(result.failedMappings);
    if (listenRetrying.size > 0) {
      listenRetry = setTimeout(() => void reconciler.request(), listenRetryMs).unref();
      listenRetryMs = Math.min(listenRetryMs * 2, LISTEN_RETRY_MAX_MS);
    }
    // Served once every listener of the cache is open: one whose socket the agent sends later is
    // opened by the run that asks for (main.ts loads the heavy modules only after this).
    if (state === cached && !cacheServed && agentListeners.connected && result.pending === 0) {
      cacheServed = true;
      timeline.listening = performance.now();
      logger.info('cached desired state served', { opened: result.opened, failed: result.failedMappings.length, msSinceProcessStart: roundAll(timeline) });
      markServed();
      // Postgres wired meanwhile (main.ts stopped waiting): its state replaces the cache at once.
      if (late.load) void reconciler.request();
    }
    const proxyIds = new Set([...table.routes.values()].map((route) => route.proxyId));
    failures.retain(proxyIds);
    upstreamNotices.retain(proxyIds);
    late.metrics?.retainProxies(proxyIds);
    if (result.opened + result.closed + result.updated > 0) logger.info('applied mappings', { opened: result.opened, closed: result.closed, updated: result.updated, failed: result.failedMappings.length, listeners: forwarder.listenerCount });
  }, logger);

  // Served once the agent's socket answers (onConnected), whether or not the rest has loaded by then.
  agentListeners.start();
  udpSockets.start();
  const early = cached === null ? null : { ms: performance.now() - started, mappings: cached.mappings.length };
  if (early) logger.info('cached desired state loaded, served until Postgres answers', { mappings: early.mappings, ms: Math.round(early.ms) });
  return { limits, stats, upstreamNotices, destinations, stopAddressWatch, agentListeners, forwarder, warmPools, stateCache, reconciler, udp: { relay: udpRelay, sockets: udpSockets }, late, early, served };
}

function roundAll(timeline: BootTimeline): Record<string, number> {
  return Object.fromEntries(Object.entries(timeline).map(([k, v]) => [k, Math.round(v as number)]));
}

function describeProblems(problems: readonly RouteProblem[]): string {
  return problems.map((p) => `${p.mappingId}:${p.reason}`).join('\n');
}
