import { randomBytes } from 'node:crypto';
import { PROBE_TRIGGERS } from '@pgw/domain';
import type { Logger } from '@pgw/log';
import type { ProbeJobData, ProbeResult, ProbeTrigger } from '@pgw/events';
import type { Queue } from 'bullmq';
import { withDeadline } from '@pgw/runtime';
import type { ProbeRuns } from './probe-runs.js';

/** Redis that does not take a job this fast is treated as down for this probe. */
const ENQUEUE_TIMEOUT_MS = 1_000;
/**
 * BullMQ takes jobs without a priority before prioritized ones: the periodic probes get one, so the
 * probes that decide whether a dying proxy's clients are blocked (an upstream failure, a liveness
 * loss, an operator's check from the api) never wait behind a period's backlog of them.
 */
const PERIODIC_PRIORITY = 10;
/** A job in these states has not started: its probe is still to come, so a request folds into it. */
const NOT_STARTED: ReadonlySet<string> = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children']);

/** The probe a dispatch asks for: one proxy, one trigger, and the endpoint where the caller names it. */
interface Request {
  readonly proxyId: number;
  readonly trigger: ProbeTrigger;
  readonly endpointKey: string | undefined;
}

/**
 * Starts the probes the health service decides on itself (periodic, upstream failure, liveness).
 * Every request is followed by a probe that starts after it: a request folds into the job of its
 * proxy and trigger (and endpoint) only while that job still waits. BullMQ drops an add whose job
 * id is taken, also while that job runs, and a running probe may have dialed before the failure it
 * is asked about: so each job gets an id of its own, never one of a running job.
 * While Redis is down the probe runs here instead, under the same concurrency bound: the status
 * must stay current without Redis, because the dataplane's Postgres resync is what blocks a dead
 * proxy's clients then.
 */
export class ProbeDispatcher {
  /** Job ids of this process: another health node (HA) numbers its own. */
  private readonly prefix = randomBytes(4).toString('hex');
  private sequence = 0;
  private readonly lastJob = new Map<string, { readonly endpointKey: string | undefined; readonly jobId: string }>();
  private readonly adding = new Map<string, Promise<void>>();
  private redisDown = false;

  constructor(
    private readonly queue: Queue<ProbeJobData, ProbeResult>,
    /** The probes this process runs, shared with the worker: a job and a local run of one probe are one run. */
    private readonly runs: ProbeRuns,
    private readonly logger: Logger,
  ) {}

  dispatch(proxyId: number, trigger: ProbeTrigger, endpointKey?: string): void {
    const request = { proxyId, trigger, endpointKey };
    this.enqueue(request).then(
      () => this.noteRedis(false),
      (error: Error) => {
        this.noteRedis(true, error);
        this.runLocally(request);
      },
    );
  }

  /** Drops what is remembered of a deleted proxy's jobs and runs. */
  forget(proxyId: number): void {
    for (const trigger of PROBE_TRIGGERS) this.lastJob.delete(jobKey(trigger, proxyId));
    this.runs.forget(proxyId);
  }

  /** Resolves once every probe this process runs has finished. */
  async drain(): Promise<void> {
    await this.runs.drain();
  }

  /** Adds the request's job, unless a job for the same proxy, trigger and endpoint still waits. */
  private enqueue(request: Request): Promise<void> {
    const key = jobKey(request.trigger, request.proxyId);
    // A request while this one's job is being added: that job is added after both, so it serves both.
    const pending = this.adding.get(key);
    if (pending !== undefined) return pending;
    const adding = withDeadline(this.addUnlessWaiting(key, request), ENQUEUE_TIMEOUT_MS, `Redis did not take the job within ${ENQUEUE_TIMEOUT_MS} ms`).finally(() => this.adding.delete(key));
    this.adding.set(key, adding);
    return adding;
  }

  private async addUnlessWaiting(key: string, { proxyId, trigger, endpointKey }: Request): Promise<void> {
    const last = this.lastJob.get(key);
    if (last !== undefined && last.endpointKey === endpointKey && NOT_STARTED.has(await this.queue.getJobState(last.jobId))) return;
    const jobId = `${key}-${this.prefix}-${++this.sequence}`;
    await this.queue.add('probe', { proxyId, trigger }, { jobId, removeOnComplete: true, removeOnFail: true, ...(trigger === 'periodic' ? { priority: PERIODIC_PRIORITY } : {}) });
    this.lastJob.set(key, { endpointKey, jobId });
  }

  /** A request while the same probe runs here is run once more after it (ProbeRuns). */
  private runLocally({ proxyId, trigger }: Request): void {
    this.runs.request(proxyId, trigger).done.catch((error: Error) => this.logger.warn('local probe failed', { proxyId, trigger, error: error.message }));
  }

  private noteRedis(down: boolean, error?: Error): void {
    if (down === this.redisDown) return;
    this.redisDown = down;
    if (down) this.logger.warn('probe queue unreachable: probing locally until Redis is back', { error: error?.message });
    else this.logger.info('probe queue reachable again');
  }
}

const jobKey = (trigger: ProbeTrigger, proxyId: number) => `${trigger}-${proxyId}`;

