/**
 * The health service in-process for the integration tests (health-probe, health-handshake):
 * Postgres as role pgw_health, the test's private Redis, and the probe queue through which a test
 * asks for on-demand probes. One place for its start and its stop, in the order they need.
 */
import { createDb, type Db } from '@pgw/db';
import { EventBus, PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { Queue, QueueEvents } from 'bullmq';
import { Registry } from 'prom-client';
import { type HealthService, type HealthServiceOptions, startHealthService } from '../../services/health/src/health-service.js';
import type { RedisHandle } from '../../lab/types.js';
import type { TestDatabase } from '../support/database.js';

export interface HealthStack {
  /** The admin's bus: it may also tail every stream for the test's assertions. */
  readonly bus: EventBus;
  readonly healthDb: Db;
  readonly health: HealthService;
  readonly registry: Registry;
  /** An on-demand probe through the queue, as the api asks for one; its result. */
  probe(proxyId: number, timeoutMs: number): Promise<ProbeResult>;
  stop(): Promise<void>;
}

export async function startHealthStack(
  database: TestDatabase,
  redis: RedisHandle,
  options: { readonly name: string; readonly secretKey: Buffer; readonly proxyAllowNetworks: readonly string[]; readonly liveness?: HealthServiceOptions['liveness'] },
): Promise<HealthStack> {
  const logger = createLogger(options.name, 'warn');
  const bus = new EventBus({ redisUrl: redis.adminUrl, logger });
  const healthDb = createDb(database.urlFor('pgw_health'), { applicationName: `pgw-${options.name}` });
  const registry = new Registry();
  const health = await startHealthService({
    db: healthDb,
    bus,
    redisUrl: redis.url('health'),
    logger,
    registry,
    secretKey: options.secretKey,
    concurrency: 4,
    reconcileIntervalMs: 60_000,
    proxyAllowNetworks: options.proxyAllowNetworks,
    ...(options.liveness === undefined ? {} : { liveness: options.liveness }),
  });
  const queue = new Queue<ProbeJobData, ProbeResult>(PROBE_QUEUE, { connection: redis.connection('admin') });
  const queueEvents = new QueueEvents(PROBE_QUEUE, { connection: redis.connection('admin') });
  await queueEvents.waitUntilReady();
  return {
    bus,
    healthDb,
    health,
    registry,
    async probe(proxyId, timeoutMs) {
      const job = await queue.add('probe', { proxyId, trigger: 'on_demand' });
      return job.waitUntilFinished(queueEvents, timeoutMs);
    },
    async stop() {
      await health.stop();
      await queueEvents.close();
      await queue.close();
      await bus.close();
      await healthDb.destroy();
    },
  };
}
