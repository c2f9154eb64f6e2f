import type { Timers } from '@pgw/runtime';

/**
 * Deterministic timers for unit tests: time moves only through advance(). The clock now() reads can
 * also be stepped (stepClock, as NTP or a restored VM steps the wall clock) without moving the timers,
 * which, like Node's, run on a monotonic clock.
 */
export class FakeTimers implements Timers {
  time: number;
  private pending: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  private step = 0;

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time + this.step;
  }

  /** The wall clock jumps by `ms` (negative: back); pending timers fire when they would have. */
  stepClock(ms: number): void {
    this.step += ms;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.push({ at: this.time + Math.max(0, ms), fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((t) => t.id !== handle);
  }

  /** Runs every timer due up to now + ms, in time order, moving the clock to each. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (let guard = 0; guard < 1_000_000; guard++) {
      const due = this.pending.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.pending = this.pending.filter((t) => t !== due);
      this.time = due.at;
      due.fn();
    }
    this.time = until;
  }
}
