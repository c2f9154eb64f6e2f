import { PROBE_TRIGGERS } from '@pgw/domain';
import { withLogContext } from '@pgw/log';
import { PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ProxyNotFoundError, type Prober } from '../probing/prober.js';
import type { ProbeRuns } from './probe-runs.js';
import type { Semaphore } from './semaphore.js';

const TRIGGERS: readonly string[] = PROBE_TRIGGERS;

/** Checks a job's data; an Error naming what is wrong otherwise (it fails the job without retries). */
export function parseJobData(data: unknown): ProbeJobData {
  const { proxyId, trigger } = (data ?? {}) as Record<string, unknown>;
  if (typeof proxyId !== 'number' || !Number.isInteger(proxyId) || proxyId < 1) {
    throw new Error(`probe job data.proxyId must be a positive integer (is ${JSON.stringify(proxyId)})`);
  }
  if (typeof trigger !== 'string' || !TRIGGERS.includes(trigger)) {
    throw new Error(`probe job data.trigger must be one of ${TRIGGERS.join(', ')} (is ${JSON.stringify(trigger)})`);
  }
  return { proxyId, trigger: trigger as ProbeJobData['trigger'] };
}

/**
 * The pgw-probes worker: each job is one probe, under the shared concurrency bound. An on-demand job
 * runs its own probe and ends with its result, which the api waits for; the jobs the health service
 * adds itself go through `runs`, one probe at a time per proxy and trigger: a job that finds one
 * running ends at once (null), its probe the one due after it.
 */
export function startProbeWorker(connection: Redis, prober: Prober, semaphore: Semaphore, runs: ProbeRuns): Worker<ProbeJobData, ProbeResult | null> {
  const probe = async ({ proxyId, trigger }: ProbeJobData): Promise<ProbeResult | null> => {
    if (trigger === 'on_demand') return await semaphore.run(() => prober.probe(proxyId, trigger));
    const { folded, done } = runs.request(proxyId, trigger);
    if (folded) return null;
    await done;
    return null;
  };
  const processJob = async (job: Job<ProbeJobData, ProbeResult | null>): Promise<ProbeResult | null> => {
    let data: ProbeJobData;
    try {
      data = parseJobData(job.data);
    } catch (error) {
      throw new UnrecoverableError((error as Error).message);
    }
    try {
      return await withLogContext({ jobId: job.id, proxyId: data.proxyId }, () => probe(data));
    } catch (error) {
      if (error instanceof ProxyNotFoundError) throw new UnrecoverableError(error.message);
      throw error;
    }
  };
  return new Worker<ProbeJobData, ProbeResult | null>(PROBE_QUEUE, processJob, { connection, concurrency: semaphore.size });
}
