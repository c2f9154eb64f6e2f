import type { Logger } from '@pgw/log';
import type { ProbeJobData, ProbeResult, ProbeTrigger } from '@pgw/events';
import type { Queue } from 'bullmq';
import type { Prober } from '../probing/prober.js';
import type { Semaphore } from './semaphore.js';

/** Redis that does not take a job this fast is treated as down for this probe. */
const ENQUEUE_TIMEOUT_MS = 1_000;

/**
 * Starts the probes the health service decides on itself (periodic, upstream failure). They go
 * through the BullMQ queue, one job id per proxy and trigger so a probe already waiting is not
 * queued twice. While Redis is down the probe runs here instead, under the same concurrency
 * bound: the status must stay current without Redis, because the dataplane's Postgres resync is
 * what blocks a dead proxy's clients then.
 */
export class ProbeDispatcher {
  private readonly localInFlight = new Set<string>();
  private redisDown = false;

  constructor(
    private readonly queue: Queue<ProbeJobData, ProbeResult>,
    private readonly prober: Prober,
    private readonly semaphore: Semaphore,
    private readonly logger: Logger,
  ) {}

  dispatch(proxyId: number, trigger: ProbeTrigger): void {
    const jobId = `${trigger}-${proxyId}`;
    this.enqueue(jobId, { proxyId, trigger }).then(
      () => this.noteRedis(false),
      (error: Error) => {
        this.noteRedis(true, error);
        this.runLocally(jobId, proxyId, trigger);
      },
    );
  }

  /** Resolves once every local probe has finished. */
  async drain(): Promise<void> {
    while (this.localInFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  private async enqueue(jobId: string, data: ProbeJobData): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not take the job within ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.queue.add('probe', data, { jobId, removeOnComplete: true, removeOnFail: true }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private runLocally(jobId: string, proxyId: number, trigger: ProbeTrigger): void {
    if (this.localInFlight.has(jobId)) return;
    this.localInFlight.add(jobId);
    this.semaphore
      .run(() => this.prober.probe(proxyId, trigger))
      .catch((error: Error) => this.logger.warn('local probe failed', { proxyId, trigger, error: error.message }))
      .finally(() => this.localInFlight.delete(jobId));
  }

  private noteRedis(down: boolean, error?: Error): void {
    if (down === this.redisDown) return;
    this.redisDown = down;
    if (down) this.logger.warn('probe queue unreachable: probing locally until Redis is back', { error: error?.message });
    else this.logger.info('probe queue reachable again');
  }
}
