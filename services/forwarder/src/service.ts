import { hostname } from 'node:os';
import { createDb, loadDesiredStateWithCredentials } from '@pgw/db';
import { DialError } from '@pgw/dialers';
import { connectRedis, EventBus, type ReceivedEvent } from '@pgw/events';
import type { Logger } from '@pgw/log';
import { createMetricsRegistry, startMetricsServer } from '@pgw/metrics';
import type { StopFn } from '@pgw/runtime';
import { AgentListeners } from './agent-listeners.js';
import type { ForwarderConfig } from './config.js';
import { ConnectionLimits } from './connection-limits.js';
import { CredentialOpener } from './credential-opener.js';
import { DestinationGuard, proxyRefusalOf } from './destination-guard.js';
import { Forwarder } from './forwarder.js';
import { type ForwarderMetrics, registerForwarderMetrics } from './forwarder-metrics.js';
import { ForwarderStats } from './forwarder-stats.js';
import type { ListenerContext } from './mapping-listener.js';
import { Reconciler } from './reconciler.js';
import { buildRoutes, type RouteProblem } from './routes.js';
import { type ForwarderState, ForwarderStateCache } from './state-cache.js';
import { startStatusWriter } from './status-writer.js';
import { UpstreamFailureTracker } from './upstream-failures.js';

/** At most one upstream-failure notice per proxy this often while its dials keep failing. */
const UPSTREAM_NOTICE_DEBOUNCE_MS = 5_000;

/** Notices after which the desired state is reloaded; the others are not about the forwarder's inputs. */
const RELEVANT_EVENTS = new Set(['mapping.changed', 'proxy.changed', 'config.changed', 'proxy.status']);

export async function startForwarder(config: ForwarderConfig, logger: Logger): Promise<StopFn> {
  const db = createDb(config.databaseUrl, { applicationName: 'pgw-forwarder', maxConnections: 2 });
  const bus = new EventBus({ redisUrl: config.redisUrl, logger });
  const redis = connectRedis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const limits = new ConnectionLimits(config.maxConnections, config.maxConnectionsPerMapping);
  const stats = new ForwarderStats();
  const failures = new UpstreamFailureTracker(config.upstreamFailureThreshold, UPSTREAM_NOTICE_DEBOUNCE_MS);
  const registry = createMetricsRegistry('forwarder');
  let metrics: ForwarderMetrics | undefined;
  const destinations = new DestinationGuard(config.proxyAllowNetworks);
  const stopAddressWatch = destinations.watch();

  const ctx: ListenerContext = {
    limits,
    stats,
    connectTimeoutMs: config.connectTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    relayMode: config.relayMode,
    destinations,
    connectObserver: (proxyId) => metrics!.connectObserver(proxyId),
    dialSucceeded: (proxyId) => failures.success(proxyId),
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
      const notice = failures.failure(route.proxyId, reason, Date.now());
      if (notice === null) return;
      logger.warn('upstream keeps failing, telling the health service', { ...notice });
      bus.publish({ type: 'forwarder.upstream_failure', ...notice }).catch((publishError: Error) =>
        logger.warn('cannot publish the upstream failure notice', { proxyId: notice.proxyId, error: publishError.message }),
      );
    },
    acceptFailed(route, error) {
      stats.failure('accept_error');
      if (logger.isDebugEnabled()) logger.debug('accept failed', { mappingId: route.mappingId, error: error.message });
    },
  };
  // The listening sockets are the agent's (it holds every mapped port); ours are duplicates.
  const agentListeners: AgentListeners = new AgentListeners(
    { path: config.listenerSocket, inventory: () => forwarder.inventory(), onConnected: () => void reconciler.request() },
    logger,
  );
  const forwarder: Forwarder = new Forwarder(ctx, agentListeners, logger);
  metrics = registerForwarderMetrics(registry, stats, limits, forwarder);

  const opener = new CredentialOpener(config.secretKey);
  const stateCache = new ForwarderStateCache(config.stateDir);
  let loadedOnce = false;
  /**
   * From Postgres, kept on disk for the next start. At a start with Postgres unreachable, the state
   * last loaded serves (as the agent's state file enforces): its clients are not refused until
   * Postgres answers. After that a failed load keeps what is in force.
   */
  const loadState = async (): Promise<ForwarderState> => {
    try {
      const state = await loadDesiredStateWithCredentials(db);
      loadedOnce = true;
      stateCache.save(state).catch((error: Error) => logger.warn('cannot write the desired state cache', { dir: config.stateDir, error: error.message }));
      return state;
    } catch (error) {
      if (loadedOnce) throw error;
      const cached = await stateCache.load().catch((cacheError: Error) => {
        logger.error('desired state cache unusable', { error: cacheError.message });
        return null;
      });
      if (cached === null) throw error;
      loadedOnce = true;
      logger.warn('Postgres unreachable at start: serving the cached desired state', { error: (error as Error).message, mappings: cached.mappings.length });
      return cached;
    }
  };
  let lastProblems = '';
  const reconciler = new Reconciler(async () => {
    const state = await loadState();
    destinations.configure(state.settings);
    const table = buildRoutes(state, opener.open);
    opener.endLoad();
    const problems = describeProblems(table.problems);
    if (problems !== lastProblems) {
      if (table.problems.length > 0) logger.warn('mappings without a listener', { problems: table.problems });
      lastProblems = problems;
    }
    const result = await forwarder.apply(table);
    const proxyIds = new Set([...table.routes.values()].map((route) => route.proxyId));
    failures.retain(proxyIds);
    metrics!.retainProxies(proxyIds);
    if (result.opened + result.closed + result.updated > 0) logger.info('applied mappings', { ...result, listeners: forwarder.listenerCount });
  }, logger);

  agentListeners.start();
  await reconciler.request();
  reconciler.startPeriodic(config.resyncIntervalMs);
  const subscription = bus.subscribe({
    group: 'forwarder',
    consumer: `forwarder@${hostname()}`,
    handler: async (received: ReceivedEvent) => {
      if (RELEVANT_EVENTS.has(received.event.type)) await reconciler.request();
    },
  });
  const statusWriter = startStatusWriter(redis, forwarder, limits, stats, logger);
  void statusWriter.writeNow();
  const metricsServer = await startMetricsServer(registry, config.metricsHost, config.metricsPort);
  logger.info('ready', { listeners: forwarder.listenerCount, listenerSocket: config.listenerSocket, metrics: `${config.metricsHost}:${config.metricsPort}` });

  return async () => {
    // Draining starts at once: it also stops any later apply from opening listeners again.
    const drained = forwarder.drain(config.drainTimeoutMs);
    // subscription.stop() and bus.close() settle within 0.5 s even with Redis unreachable (@pgw/events).
    await Promise.all([reconciler.stop(), subscription.stop()]);
    const { remaining } = await drained;
    logger.info('drained', { closedAtDeadline: remaining });
    agentListeners.stop();
    statusWriter.stop();
    stopAddressWatch();
    await statusWriter.writeNow();
    metricsServer.close();
    await bus.close();
    redis.disconnect();
    await db.destroy();
  };
}

function describeProblems(problems: readonly RouteProblem[]): string {
  return problems.map((p) => `${p.mappingId}:${p.reason}`).join('\n');
}
