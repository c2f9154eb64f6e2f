/**
 * Wake-ups for a test that waits on a stream of observations (requests finished, nft transactions
 * seen): the producer calls wake() after each one, the waiter re-checks its condition after each
 * wake or at the latest after maxMs. Replaces polling on a fixed interval.
 */
export class Wakeups {
  private readonly waiters = new Set<() => void>();

  wake(): void {
    for (const wake of this.waiters) wake();
  }

  /** Resolves at the next wake(), or after maxMs. */
  next(maxMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(wake, maxMs);
      this.waiters.add(wake);
    });
  }
}
