/**
 * The same ports are asked for again no sooner than this: a root daemon listening on a mapped port
 * (no forwarder holds it) would otherwise be asked about at every run.
 */
export const ASK_AGAIN_MS = 5_000;

/** Whether to send a handback_wanted now, and whether it repeats the last one (logged once per set). */
export interface HandbackAsk {
  readonly send: boolean;
  readonly repeated: boolean;
}

/** Pure: paces the agent's handback_wanted messages; the clock is the caller's (ms, monotonic). */
export class HandbackAsks {
  private lastKey = '';
  private lastAt = Number.NEGATIVE_INFINITY;

  next(ports: readonly number[], now: number): HandbackAsk {
    const key = ports.join(',');
    const repeated = key === this.lastKey;
    if (repeated && now - this.lastAt < ASK_AGAIN_MS) return { send: false, repeated };
    this.lastKey = key;
    this.lastAt = now;
    return { send: true, repeated };
  }
}
