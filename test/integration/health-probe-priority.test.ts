// The probe queue holds every kind of probe: the periodic ones, and those that decide whether a
// dying proxy's clients are blocked (an upstream failure the forwarder saw, a liveness loss, an
// operator's check). One FIFO put the latter behind the whole periodic backlog: with many slow
// proxies, up to one period of periodic jobs (about 40 s with 256 proxies at the default
// timeout). Periodic jobs are queued with a lower priority now. Real Redis (a private one) and
// BullMQ; the prober is a stand-in (what is measured is the order the worker takes jobs in).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { Queue, Worker } from 'bullmq';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';
import type { Prober } from '../../services/health/src/probing/prober.js';
import { ProbeDispatcher } from '../../services/health/src/scheduling/dispatcher.js';
import { ProbeRuns } from '../../services/health/src/scheduling/probe-runs.js';
import { Semaphore } from '../../services/health/src/scheduling/semaphore.js';

describe('health: probes that decide a block go before the periodic backlog', { timeout: 30_000 }, () => {
  let dir: string;
  let redis: RedisHandle;
  let queue: Queue<ProbeJobData, ProbeResult>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgw-probe-priority-'));
    redis = await startRedis({ dir });
    queue = new Queue<ProbeJobData, ProbeResult>(PROBE_QUEUE, { connection: redis.connection('admin') });
  });
  after(async () => {
    await queue?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an upstream failure and a liveness loss queued behind 20 periodic probes are taken first', async () => {
    const dispatcher = new ProbeDispatcher(queue, new ProbeRuns({} as Prober, new Semaphore(1)), createLogger('probe-priority-test', 'error'));
    for (let proxyId = 1; proxyId <= 20; proxyId++) dispatcher.dispatch(proxyId, 'periodic');
    dispatcher.dispatch(99, 'upstream_failure');
    dispatcher.dispatch(98, 'liveness');
    for (let i = 0; i < 100 && (await queue.count()) < 22; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await queue.count(), 22, 'every job queued');
    const taken: string[] = [];
    const worker = new Worker<ProbeJobData, ProbeResult>(
      PROBE_QUEUE,
      async (job) => {
        taken.push(`${job.data.trigger}-${job.data.proxyId}`);
        return { proxyId: job.data.proxyId, ok: true, latencyMs: 1, exitIp: null, error: null, checkedAt: new Date().toISOString() };
      },
      { connection: redis.connection('admin'), concurrency: 1 },
    );
    try {
      for (let i = 0; i < 250 && taken.length < 22; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      await worker.close();
    }
    assert.deepEqual(taken.slice(0, 2).sort(), ['liveness-98', 'upstream_failure-99'], `taken in this order: ${taken.join(' ')}`);
    assert.equal(taken.length, 22);
  });
});
