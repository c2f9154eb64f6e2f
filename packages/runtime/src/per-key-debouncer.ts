/** Timers behind an interface so the debouncer's behaviour is testable without waiting. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Per-key leading-edge debounce with a trailing call: the first notice for a key fires at once
 * (a proxy dying under traffic is probed immediately); further notices within `windowMs` are
 * folded into one more call at the end of the window, so none is lost and a burst of notices
 * costs at most two probes per window.
 */
export class PerKeyDebouncer<K> {
  private readonly lastFired = new Map<K, number>();
  private readonly trailing = new Map<K, unknown>();

  constructor(
    private readonly windowMs: number,
    private readonly fire: (key: K) => void,
    private readonly timers: Timers = realTimers,
  ) {}

  notify(key: K): void {
    if (this.trailing.has(key)) return;
    const now = this.timers.now();
    const last = this.lastFired.get(key);
    // A clock stepped back (now before the last call) ends the window: else the trailing call
    // waited for as long as the step, and every notice of the key was folded into it.
    if (last === undefined || now - last >= this.windowMs || now < last) {
      this.fireNow(key, now);
      return;
    }
    const handle = this.timers.setTimeout(() => {
      this.trailing.delete(key);
      this.fireNow(key, this.timers.now());
    }, last + this.windowMs - now);
    this.trailing.set(key, handle);
  }

  /** Forgets every key not in `keep` (their proxies are no longer used). */
  retain(keep: ReadonlySet<K>): void {
    for (const key of new Set([...this.lastFired.keys(), ...this.trailing.keys()])) if (!keep.has(key)) this.forget(key);
  }

  /** Forget a key (its proxy was deleted, or recovered: its next notice goes out at once). */
  forget(key: K): void {
    const handle = this.trailing.get(key);
    if (handle !== undefined) this.timers.clearTimeout(handle);
    this.trailing.delete(key);
    this.lastFired.delete(key);
  }

  stop(): void {
    for (const handle of this.trailing.values()) this.timers.clearTimeout(handle);
    this.trailing.clear();
  }

  private fireNow(key: K, now: number): void {
    this.lastFired.set(key, now);
    this.fire(key);
  }
}
