import { hostname } from 'node:os';
import { createDb, loadDesiredStateWithCredentials } from '@pgw/db';
import { connectRedis, EventBus, type ReceivedEvent } from '@pgw/events';
import type { Logger } from '@pgw/log';
import { createMetricsRegistry, serveMetricsWhenFree } from '@pgw/metrics';
import { DeadlineExceeded, type StopFn, withDeadline } from '@pgw/runtime';
import type { ForwarderCore } from './boot.js';
import type { ForwarderConfig } from './config.js';
import { registerForwarderMetrics } from './observability/forwarder-metrics.js';
import type { ForwarderState } from './routes/state-cache.js';
import { startStatusWriter } from './observability/status-writer.js';
import { registerUdpMetrics } from './observability/udp-metrics.js';
import { udpStatus } from './observability/udp-status.js';

/**
 * A load of the desired state that takes longer fails (as the agent's, LOAD_DEADLINE_MS): runs go
 * one at a time, and a query Postgres never answers (a network partition, a hung server) held every
 * later notice, resync and hold-down recheck behind it until TCP gave up, up to a quarter of an hour.
 * The next run loads again, on a new pool (load below).
 */
const LOAD_DEADLINE_MS = 5_000;

/** Notices after which the desired state is reloaded; the others are not about the forwarder's inputs. */
const RELEVANT_EVENTS = new Set(['mapping.changed', 'proxy.changed', 'config.changed', 'proxy.status']);

/** Everything but the boot fast path (boot.ts), which may already serve the cached state. */
export async function startForwarder(config: ForwarderConfig, logger: Logger, core: ForwarderCore): Promise<StopFn> {
  const { limits, stats, stopAddressWatch, upstreamNotices, agentListeners, forwarder, warmPools, stateCache, reconciler, late, udp } = core;
  const connect = () => createDb(config.databaseUrl, { applicationName: 'pgw-forwarder', maxConnections: 2, serviceRole: 'pgw_forwarder' });
  let db = connect();
  /**
   * A load out of time: its connection is stuck (its query unanswered) and would hold its place in
   * the pool until TCP gives up; the next loads take a new pool, and the old one goes once its
   * queries end.
   */
  const load = async (settings: ForwarderState['settings'] | null) => {
    const pool = db;
    try {
      return await withDeadline(loadDesiredStateWithCredentials(pool, settings), LOAD_DEADLINE_MS, `the desired state was not read within ${LOAD_DEADLINE_MS} ms (Postgres silent?)`);
    } catch (error) {
      if (error instanceof DeadlineExceeded && pool === db) {
        db = connect();
        void pool.destroy().catch(() => undefined);
      }
      throw error;
    }
  };
  const bus = new EventBus({ redisUrl: config.redisUrl, logger });
  const redis = connectRedis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const registry = createMetricsRegistry('forwarder');
  late.metrics = registerForwarderMetrics(registry, stats, limits, forwarder, warmPools);
  registerUdpMetrics(registry, udp.relay);
  late.publish = (notice) => bus.publish({ type: 'forwarder.upstream_failure', ...notice });

  let loadedOnce = false;
  /** Why no routes are in force yet: /readyz says it (keepalived's check leaves the address to the peer meanwhile). */
  let notLoadedWhy = 'not loaded yet';
  /** The settings last loaded: they stand in while the row is one the schema refuses (said once per problem). */
  let lastSettings: ForwarderState['settings'] | null = null;
  let settingsProblem: string | null = null;
  /**
   * From Postgres, kept on disk for the next start. At a start with Postgres unreachable, the state
   * last loaded serves (as the agent's state file enforces): its clients are not refused until
   * Postgres answers. After that a failed load keeps what is in force.
   */
  late.load = async (): Promise<ForwarderState> => {
    try {
      const { state, settingsRefused } = await load(lastSettings);
      if (settingsRefused !== null && settingsRefused !== settingsProblem) logger.error('settings refused: the settings last loaded stay in force, the proxies and mappings apply', { problem: settingsRefused });
      settingsProblem = settingsRefused;
      lastSettings = state.settings;
      loadedOnce = true;
      stateCache.save(state).catch((error: Error) => logger.warn('cannot write the desired state cache', { dir: config.stateDir, error: error.message }));
      return state;
    } catch (error) {
      if (loadedOnce) throw error;
      const cached = await stateCache.load().catch((cacheError: Error) => {
        logger.error('desired state cache unusable', { error: cacheError.message });
        return null;
      });
      if (cached === null) {
        notLoadedWhy = `Postgres: ${(error as Error).message}; no usable cached desired state`;
        throw error;
      }
      loadedOnce = true;
      lastSettings = cached.settings;
      logger.warn('Postgres unreachable at start: serving the cached desired state', { error: (error as Error).message, mappings: cached.mappings.length });
      return cached;
    }
  };

  await reconciler.request();
  reconciler.startPeriodic(config.resyncIntervalMs);
  const subscription = bus.subscribe({
    group: 'forwarder',
    node: config.nodeName,
    consumer: `forwarder@${hostname()}`,
    handler: async (received: ReceivedEvent) => {
      if (RELEVANT_EVENTS.has(received.event.type)) await reconciler.request();
    },
  });
  const statusWriter = startStatusWriter(redis, config.nodeName, forwarder, limits, stats, logger, undefined, () => udpStatus(udp.relay.flowCount, udp.relay.clientProblems()));
  void statusWriter.writeNow();
  const metricsPort = await serveMetricsWhenFree(registry, config.metricsHost, config.metricsPort, {
    taken: (error) => logger.error('the metrics port is held by another process: relaying without /metrics, /healthz and /readyz until it is free (keepalived sees this node unhealthy meanwhile)', { port: config.metricsPort, error: error.message }),
    bound: () => logger.info('metrics port free again: serving /metrics, /healthz and /readyz', { port: config.metricsPort }),
  }, { hosts: { names: new Set(config.metricsHostNames), variable: 'PGW_METRICS_HOSTNAMES' }, readiness: () => (loadedOnce ? null : `no mappings loaded yet (${notLoadedWhy})`) });
  logger.info('ready', { listeners: forwarder.listenerCount, listenerSocket: config.listenerSocket, metrics: `${config.metricsHost}:${config.metricsPort}` });

  return async () => {
    // Draining starts at once: it also stops any later apply from opening listeners again. The
    // notices and the reconciler run on until it ends: a mapping moved, disabled or deleted
    // meanwhile still has its relays cut, not left on the old proxy until the deadline.
    const { remaining } = await forwarder.drain(config.drainTimeoutMs);
    // subscription.stop() and bus.close() settle within 0.5 s even with Redis unreachable (@pgw/events).
    // A reconcile run in flight waits for Postgres up to its load deadline: after the drain, with
    // systemd's stop timeout running, it is not waited for past 2 s (an apply opens nothing now).
    await withDeadline(Promise.all([reconciler.stop(), subscription.stop()]), 2_000, 'the reconciler did not stop').catch(() => undefined);
    logger.info('drained', { closedAtDeadline: remaining });
    agentListeners.stop();
    udp.sockets.stop();
    udp.relay.stop();
    statusWriter.stop();
    stopAddressWatch();
    upstreamNotices.stop();
    await statusWriter.writeNow();
    await metricsPort.close();
    await bus.close();
    redis.disconnect();
    // Bounded: a pool with a query Postgres never answers would wait for it.
    await withDeadline(db.destroy(), 2_000, 'the Postgres pool did not close').catch(() => undefined);
  };
}
