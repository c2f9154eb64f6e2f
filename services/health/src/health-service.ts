import { hostname } from 'node:os';
import type { Db } from '@pgw/db';
import { ProxyHostPolicy, type Settings } from '@pgw/domain';
import { connectRedis, type EventBus, PROBE_QUEUE, type ProbeJobData, type ProbeResult, type ReceivedEvent } from '@pgw/events';
import type { Logger } from '@pgw/log';
import { CoalescedRuns, GatewayAddressReader, PerKeyDebouncer, withDeadline } from '@pgw/runtime';
import { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { ProbeDispatcher } from './scheduling/dispatcher.js';
import { ProbeRuns } from './scheduling/probe-runs.js';
import { EXIT_IP_ALARM_KINDS } from './state/exit-ip-alarms.js';
import { createHealthMetrics, type HealthMetrics } from './probing/metrics.js';
import { Prober } from './probing/prober.js';
import { pruneHistory } from './repositories/checks.js';
import { listProxies } from './repositories/proxies.js';
import { HealthSettings } from './repositories/settings.js';
import { endpointKey } from './scheduling/endpoint-key.js';
import { PeriodicScheduler } from './scheduling/scheduler.js';
import { Semaphore } from './scheduling/semaphore.js';
import { LivenessMonitor } from './liveness/liveness-monitor.js';
import type { LivenessTimings } from './liveness/liveness-watch.js';
import { trustedCaList } from './probing/trusted-ca.js';
import { startProbeWorker } from './scheduling/worker.js';

export interface HealthServiceOptions {
  readonly db: Db;
  readonly bus: EventBus;
  readonly redisUrl: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Metrics already registered (the prober restarts with its leadership; a registry takes each name once). */
  readonly metrics?: HealthMetrics;
  readonly secretKey: Buffer;
  /** Probes in flight at once (PGW_HEALTH_CONCURRENCY). */
  readonly concurrency: number;
  /** CAs trusted besides the public roots for an https check URL (PGW_HEALTH_CA_FILE). */
  readonly extraCa?: readonly string[];
  /** Where the settings come from (main.ts shares its own); a HealthSettings of `db` when absent. */
  readonly settings?: HealthSettings;
  /** Fallback for lost notices: reload proxies and settings this often. */
  readonly reconcileIntervalMs?: number;
  readonly pruneIntervalMs?: number;
  /** At most one upstream-failure probe per proxy per window, plus one trailing. */
  readonly upstreamDebounceMs?: number;
  /** One idle connection per proxy that notices its death without client traffic (PGW_HEALTH_LIVENESS); false turns it off. */
  readonly liveness?: LivenessTimings | false;
  /**
   * PGW_PROXY_ALLOW_CIDRS: networks where a proxy may be although it would be refused. Elsewhere a
   * proxy row on loopback, link-local or in the LAN is never dialed (the api refuses such rows; this
   * holds for a row written past it), so a probe cannot be aimed at a gateway service.
   */
  readonly proxyAllowNetworks: readonly string[];
}

export interface HealthService {
  /** Reloads proxies and settings from Postgres now (what a notice triggers). */
  reconcile(): Promise<void>;
  prune(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Composes the health service: the pgw-probes worker, the periodic scheduler, the consumer of
 * proxy/config/upstream-failure notices, the reconcile loop and history pruning.
 */
export async function startHealthService(options: HealthServiceOptions): Promise<HealthService> {
  const { db, bus, logger } = options;
  const settingsSource = options.settings ?? new HealthSettings(db, logger);
  let settings: Settings = await settingsSource.load();
  // Rebuilt at each reconcile: the settings' LAN and the gateway's own addresses, as they are then.
  const addresses = new GatewayAddressReader((error) => logger.warn("cannot re-read the gateway's own addresses: the last ones read stay in force", { error: error.message }));
  const proxyHostPolicy = () => new ProxyHostPolicy({ lanCidr: settings.lanCidr, allowedNetworks: options.proxyAllowNetworks, gatewayAddresses: addresses.current() });
  let proxyHosts = proxyHostPolicy();
  const metrics = options.metrics ?? createHealthMetrics(options.registry);
  const semaphore = new Semaphore(options.concurrency);
  const prober = new Prober({
    db,
    bus,
    logger,
    metrics,
    secretKey: options.secretKey,
    trustedCa: trustedCaList(options.extraCa ?? []),
    settings: () => settings,
    checkProxyAddress: (address) => proxyHosts.problem(address),
    gatewayAddresses: () => addresses.current(),
  });

  // Fails fast while Redis is down (the dispatcher then probes locally); the worker's connection waits.
  const queueConnection = connectRedis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const workerConnection = connectRedis(options.redisUrl, { maxRetriesPerRequest: null });
  for (const connection of [queueConnection, workerConnection]) connection.on('error', () => undefined);
  const queue = new Queue<ProbeJobData, ProbeResult>(PROBE_QUEUE, { connection: queueConnection });
  queue.on('error', () => undefined);
  const runs = new ProbeRuns(prober, semaphore);
  const worker = startProbeWorker(workerConnection, prober, semaphore, runs);
  let workerErrorLogged = 0;
  worker.on('error', (error) => {
    // Redis outages repeat the same error many times a second; one line per minute is enough.
    if (Date.now() - workerErrorLogged < 60_000) return;
    workerErrorLogged = Date.now();
    logger.warn('probe worker error', { error: error.message });
  });
  worker.on('failed', (job, error) => logger.warn('probe job failed', { jobId: job?.id, error: error.message }));

  const dispatcher = new ProbeDispatcher(queue, runs, logger);
  const scheduler = new PeriodicScheduler((proxyId, endpoint) => dispatcher.dispatch(proxyId, 'periodic', endpoint));
  const upstreamFailures = new PerKeyDebouncer<number>(options.upstreamDebounceMs ?? 2_000, (proxyId) => dispatcher.dispatch(proxyId, 'upstream_failure'));
  const liveness =
    options.liveness === false
      ? null
      : new LivenessMonitor(
          {
            recordLoss: async (watched, detail) => {
              await prober.recordLoss(watched, detail);
            },
            probeNow: (proxyId) => dispatcher.dispatch(proxyId, 'liveness'),
            checkProxyAddress: (address) => proxyHosts.problem(address),
          },
          logger,
          metrics.livenessLosses,
          options.liveness,
        );
  let known = new Set<number>();

  /** One load of the proxies and settings, applied to the schedule and the liveness watches. */
  async function reconcileOnce(): Promise<void> {
    settings = await settingsSource.load();
    proxyHosts = proxyHostPolicy();
    const proxies = await listProxies(db);
    scheduler.sync(
      proxies.map((p) => ({ id: p.id, endpointKey: endpointKey(p), probeNow: p.status === 'unknown', ...(p.lastCheckedAt ? { lastProbedAt: p.lastCheckedAt.getTime() } : {}) })),
      settings.healthIntervalS * 1000,
    );
    // A refused proxy gets no liveness connection either (its probes record why it is down).
    liveness?.sync(proxies.filter((p) => proxyHosts.problem(p.host) === null));
    const present = new Set(proxies.map((p) => p.id));
    for (const id of known) {
      if (present.has(id)) continue;
      prober.forget(id);
      dispatcher.forget(id);
      upstreamFailures.forget(id);
      metrics.proxyUp.remove({ proxy: String(id) });
      metrics.proxyLatencyMs.remove({ proxy: String(id) });
      for (const kind of EXIT_IP_ALARM_KINDS) metrics.exitIpAlarm.remove({ proxy: String(id), kind });
    }
    // The api may reset a status (edited endpoint): the gauge follows Postgres, not only our probes.
    for (const p of proxies) metrics.proxyUp.set({ proxy: String(p.id) }, p.status === 'up' ? 1 : 0);
    known = present;
  }
  // A notice and the timer may ask at once: one load at a time, so an older list never lands after a newer one.
  const reconciles = new CoalescedRuns(reconcileOnce);
  const reconcile = (): Promise<void> => reconciles.request();

  async function handle({ event }: ReceivedEvent): Promise<void> {
    if (event.type === 'forwarder.upstream_failure') {
      logger.info('upstream failure reported: probing now', { proxyId: event.proxyId, reason: event.reason, failures: event.failures });
      upstreamFailures.notify(event.proxyId);
    } else if (event.type === 'proxy.changed' || event.type === 'config.changed') {
      await reconcile();
    }
  }

  async function prune(): Promise<number> {
    const { deleted, more } = await pruneHistory(db, settings.historyRetentionDays);
    if (deleted > 0) logger.info('pruned probe history', { deleted, retentionDays: settings.historyRetentionDays, more });
    pruneTimer = setTimeout(runPrune, more ? 1_000 : (options.pruneIntervalMs ?? 600_000));
    return deleted;
  }
  function runPrune(): void {
    prune().catch((error: Error) => {
      logger.warn('pruning probe history failed', { error: error.message });
      pruneTimer = setTimeout(runPrune, options.pruneIntervalMs ?? 600_000);
    });
  }

  /** What runs from here on besides the loops started below: closed by stop(), and by a start that fails. */
  async function closeStarted(): Promise<void> {
    liveness?.stop();
    upstreamFailures.stop();
    // Each one's start (BullMQ's version check on its connection) settled first: failing after
    // close(), when it has no listeners left, it throws from its catch, an unhandled rejection.
    // Bounded: with Redis away the worker's connection would wait for it without end.
    const started = (ready: Promise<unknown>) => withDeadline(ready, 2_000, 'not started').catch(() => undefined);
    await started(worker.waitUntilReady());
    await worker.close();
    await dispatcher.drain();
    await started(queue.waitUntilReady());
    await queue.close();
    queueConnection.disconnect();
    workerConnection.disconnect();
  }

  try {
    await reconcile();
  } catch (error) {
    // Nothing of a failed start may outlive it: its worker would take the shared queue's jobs
    // under the settings of this moment, and each retry of a take-over would add another.
    await closeStarted();
    throw error;
  }
  scheduler.start();
  const subscription = bus.subscribe({ group: 'health', consumer: `health@${hostname()}`, handler: handle });
  const reconcileTimer = setInterval(() => {
    reconcile().catch((error: Error) => logger.warn('reconcile with Postgres failed; keeping the last schedule', { error: error.message }));
  }, options.reconcileIntervalMs ?? 15_000);
  let pruneTimer: NodeJS.Timeout | undefined;
  runPrune();
  logger.info('health service started', { proxies: known.size, intervalS: settings.healthIntervalS, concurrency: options.concurrency });

  return {
    reconcile,
    async prune() {
      clearTimeout(pruneTimer);
      return prune();
    },
    async stop() {
      clearInterval(reconcileTimer);
      clearTimeout(pruneTimer);
      await subscription.stop();
      // A load still running would start watches and timers again after they are stopped.
      await reconciles.idle();
      scheduler.stop();
      await closeStarted();
    },
  };
}
