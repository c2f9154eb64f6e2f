/**
 * The health service in-process for the integration tests (health-probe, health-handshake, ...):
 * Postgres as role pgw_health, the test's private Redis, and the probe queue through which a test
 * asks for on-demand probes. One place for its start and its stop, in the order they need.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, type Db } from '@pgw/db';
import { EventBus, PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { Queue, QueueEvents } from 'bullmq';
import { Registry } from 'prom-client';
import { type HealthService, type HealthServiceOptions, startHealthService } from '../../services/health/src/health-service.js';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';
import { waitFor } from '../../lab/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/** What a health test starts from: its own migrated database and a private Redis in a temporary directory. */
export interface HealthStores {
  readonly database: TestDatabase;
  readonly redis: RedisHandle;
  /** Stops Redis, drops the database and removes the directory. */
  stop(): Promise<void>;
}

export async function startHealthStores(name: string, options: { readonly databasePrefix?: string } = {}): Promise<HealthStores> {
  const database = await createTestDatabase(options.databasePrefix === undefined ? {} : { prefix: options.databasePrefix });
  const dir = mkdtempSync(join(tmpdir(), `pgw-${name}-`));
  const removeAll = async (redis?: RedisHandle) => {
    await redis?.stop();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  let redis: RedisHandle;
  try {
    redis = await startRedis({ dir });
  } catch (error) {
    await removeAll();
    throw error;
  }
  return { database, redis, stop: () => removeAll(redis) };
}

export interface HealthStack {
  /** The admin's bus: it may also tail every stream for the test's assertions. */
  readonly bus: EventBus;
  readonly healthDb: Db;
  readonly health: HealthService;
  readonly registry: Registry;
  /** An on-demand probe through the queue, as the api asks for one; its result. */
  probe(proxyId: number, timeoutMs: number): Promise<ProbeResult>;
  /** Resolves once no probe job waits or runs: every probe asked for so far has recorded its result. */
  settled(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startHealthStack(
  database: TestDatabase,
  redis: RedisHandle,
  options: {
    readonly name: string;
    readonly secretKey: Buffer;
    readonly proxyAllowNetworks: readonly string[];
    readonly liveness?: HealthServiceOptions['liveness'];
    readonly upstreamDebounceMs?: number;
  },
): Promise<HealthStack> {
  const logger = createLogger(options.name, 'warn');
  const bus = new EventBus({ redisUrl: redis.adminUrl, logger });
  const healthDb = createDb(database.urlFor('pgw_health'), { applicationName: `pgw-${options.name}` });
  const registry = new Registry();
  let health: HealthService;
  try {
    health = await startHealthService({
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
      ...(options.upstreamDebounceMs === undefined ? {} : { upstreamDebounceMs: options.upstreamDebounceMs }),
    });
  } catch (error) {
    await bus.close();
    await healthDb.destroy();
    throw error;
  }
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
    async settled(timeoutMs) {
      await waitFor('no probe job waiting or running', timeoutMs, async () => {
        const counts = await queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
        return Object.values(counts).every((n) => n === 0);
      });
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
