import type { Logger } from '@pgw/log';

/**
 * Level-triggered convergence: any request (a notice, the periodic timer) leads to one full
 * load-and-apply; requests arriving meanwhile fold into one more run after it.
 */
export class Reconciler {
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;

  constructor(
    private readonly converge: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  /** Resolves when a run that started after this call has finished (successfully or not). */
  request(): Promise<void> {
    if (this.running !== null) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => (this.running = null));
    return this.running;
  }

  startPeriodic(intervalMs: number): void {
    this.timer = setInterval(() => void this.request(), intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.converge();
        if (this.failing) this.logger.info('converged again');
        this.failing = false;
      } catch (error) {
        // Keep what is in force (the agent's nftables enforce blocking); retry on the next run.
        if (!this.failing) this.logger.error('cannot load the desired state, keeping the current listeners', { error: (error as Error).message });
        this.failing = true;
      }
    } while (this.again);
  }
}
