/** Thrown by WorkGate.run when the queue is full: the caller answers 429 with Retry-After. */
export class GateFull extends Error {
  constructor() {
    super('too much of this work is already waiting');
  }
}

/**
 * Runs at most `concurrency` jobs at once; up to `maxWaiting` more wait their turn in order, and
 * beyond that `run` refuses at once rather than queue without bound. Guards argon2, whose every
 * check or hash holds 64 MiB while it runs: the number in flight is what bounds the api's memory.
 * (p-limit and the like queue without bound; refusing at the door is the point here.)
 */
export class WorkGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Work run `first`, in its own order, ahead of `waiting`. */
  private readonly waitingFirst: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  /**
   * `first`: queued ahead of the other waiters (first come, first served among its own) and never
   * refused for a full queue: for work whose own count is bounded elsewhere (a known browser's
   * login: LoginThrottle.reserveDevice), which a storm holding the queue full would otherwise keep out.
   */
  async run<T>(work: () => Promise<T>, first = false): Promise<T> {
    if (this.running >= this.concurrency) {
      if (!first && this.waiting.length >= this.maxWaiting) throw new GateFull();
      await new Promise<void>((resolve) => (first ? this.waitingFirst : this.waiting).push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, so `running` never drops below what is in flight.
      const next = this.waitingFirst.shift() ?? this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
