import { PROBE_TRIGGERS } from '@pgw/domain';
import { withLogContext } from '@pgw/log';
import { PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ProxyNotFoundError, type Prober } from '../probing/prober.js';
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

/** The pgw-probes worker: each job is one probe, under the shared concurrency bound. */
export function startProbeWorker(connection: Redis, prober: Prober, semaphore: Semaphore): Worker<ProbeJobData, ProbeResult> {
  const processJob = async (job: Job<ProbeJobData, ProbeResult>): Promise<ProbeResult> => {
    let data: ProbeJobData;
    try {
      data = parseJobData(job.data);
    } catch (error) {
      throw new UnrecoverableError((error as Error).message);
    }
    try {
      return await withLogContext({ jobId: job.id, proxyId: data.proxyId }, () => semaphore.run(() => prober.probe(data.proxyId, data.trigger)));
    } catch (error) {
      if (error instanceof ProxyNotFoundError) throw new UnrecoverableError(error.message);
      throw error;
    }
  };
  return new Worker<ProbeJobData, ProbeResult>(PROBE_QUEUE, processJob, { connection, concurrency: semaphore.size });
}
