import type { Logger } from '@pgw/log';
import { CoalescedRuns } from '@pgw/runtime';

/**
 * Level-triggered convergence: any request (a notice, the periodic timer) leads to one full
 * load-and-apply; requests arriving meanwhile fold into one more run after it (CoalescedRuns).
 * A failed run keeps what is in force and is logged once until a run succeeds again.
 */
export class Reconciler {
  private readonly runs: CoalescedRuns;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private stopped = false;

  constructor(converge: () => Promise<void>, logger: Logger) {
    this.runs = new CoalescedRuns(async () => {
      try {
        await converge();
        if (this.failing) logger.info('converged again');
        this.failing = false;
      } catch (error) {
        // Keep what is in force (the agent's nftables enforce blocking); retry on the next run.
        if (!this.failing) logger.error('cannot load the desired state, keeping the current listeners', { error: (error as Error).message });
        this.failing = true;
      }
    });
  }

  /**
   * Resolves when a run that started after this call has finished (successfully or not). After
   * stop(), at once with no run: a timer set by a last run (a recheck, a listener retry) finds the
   * stores closed.
   */
  request(): Promise<void> {
    return this.stopped ? Promise.resolve() : this.runs.request();
  }

  startPeriodic(intervalMs: number): void {
    this.timer = setInterval(() => void this.request(), intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.runs.idle();
  }
}
