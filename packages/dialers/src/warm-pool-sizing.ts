// How many warm connections a proxy's pool keeps, and for how long: pure, the clock passed in.
// The size follows recent demand: the most connections taken within any window as long as the
// pool takes to open one (a refill; BURST_MS until measured) over the last demandWindowMs, capped,
// and 0 once the proxy has been idle that long. Takes further apart than a refill are served by
// one warm connection in turn; a browser opening several at once needs as many. A warm connection the proxy closes before use says its idle timeout is shorter than
// ours: the age halves below the age at which it was closed; a proxy that keeps doing that (or
// refuses the warm connections outright) gets no pool for OFF_MS, after which it is tried again.

/** The longest window that counts as one burst, and the window until an open has been timed. */
export const BURST_MS = 1_000;
/** The shortest window: even a proxy next door takes this long to be opened again under load. */
export const MIN_BURST_MS = 50;
/** Consecutive warm connections lost before use after which the pool is off for the proxy. */
export const REJECTIONS_OFF = 3;
/** Below this age a warm connection is not worth keeping: the pool is off instead. */
export const MIN_AGE_MS = 200;
/** How long a pool stays off for a proxy that rejects warm connections. */
export const OFF_MS = 10 * 60_000;
/** Demand samples kept per proxy; more takes in the window than this only saturate the size. */
const MAX_SAMPLES = 256;

export interface WarmPoolSettings {
  /** Most warm connections kept per proxy. */
  readonly maxPerProxy: number;
  /** A warm connection unused this long after it opened is closed: below any proxy's idle timeout. */
  readonly maxAgeMs: number;
  /** A proxy with no connection taken for this long gets no warm connection. */
  readonly demandWindowMs: number;
}

export class WarmPoolSizing {
  /** Times of the connections asked of the pool (warm or not), oldest first. */
  private readonly takes: number[] = [];
  private rejections = 0;
  private offUntil = -Infinity;
  private ageMs: number;
  /** How long opening a warm connection takes (smoothed); null until one has been timed. */
  private openMs: number | null = null;

  constructor(private readonly settings: WarmPoolSettings) {
    if (!(settings.maxPerProxy >= 1) || !(settings.maxAgeMs >= MIN_AGE_MS) || !(settings.demandWindowMs >= BURST_MS)) {
      throw new Error(`warm pool settings out of range: maxPerProxy >= 1, maxAgeMs >= ${MIN_AGE_MS}, demandWindowMs >= ${BURST_MS} (got ${JSON.stringify(settings)})`);
    }
    this.ageMs = settings.maxAgeMs;
  }

  /** A client connection asked for the proxy (whether a warm one was there or not). */
  recordTake(now: number): void {
    if (this.takes.length === MAX_SAMPLES) this.takes.shift();
    this.takes.push(now);
  }

  /** A warm connection opened in `durationMs` (TCP and handshake). */
  recordOpen(durationMs: number): void {
    this.openMs = this.openMs === null ? durationMs : 0.7 * this.openMs + 0.3 * durationMs;
  }

  /** How long opening a warm connection takes (smoothed): what one saves its client; null until timed. */
  get setupMs(): number | null {
    return this.openMs;
  }

  /** Takes closer together than this need a warm connection each. */
  get burstMs(): number {
    return this.openMs === null ? BURST_MS : Math.min(BURST_MS, Math.max(MIN_BURST_MS, 1.5 * this.openMs));
  }

  /** A warm connection carried a client's CONNECT: the proxy accepts them. */
  recordUse(): void {
    this.rejections = 0;
  }

  /**
   * A warm connection was lost before it served a client: the proxy closed it (or it failed to
   * open, ageMs null), or its CONNECT found it closed. Returns true when the pool goes off.
   */
  recordRejection(ageMs: number | null, now: number): boolean {
    this.rejections++;
    if (ageMs !== null && ageMs < this.ageMs) this.ageMs = Math.floor(ageMs / 2);
    if (this.rejections < REJECTIONS_OFF && this.ageMs >= MIN_AGE_MS) return false;
    this.offUntil = now + OFF_MS;
    this.rejections = 0;
    this.ageMs = this.settings.maxAgeMs;
    return true;
  }

  isOff(now: number): boolean {
    return now < this.offUntil;
  }

  /** How long a warm connection may wait for a client. */
  get maxAgeMs(): number {
    return this.ageMs;
  }

  /** Warm connections to keep now: 0 while off or idle, else the recent peak burst, capped. */
  target(now: number): number {
    const since = now - this.settings.demandWindowMs;
    while (this.takes.length > 0 && this.takes[0]! <= since) this.takes.shift();
    if (this.isOff(now) || this.takes.length === 0) return 0;
    const burst = this.burstMs;
    let peak = 0;
    let start = 0;
    for (let end = 0; end < this.takes.length; end++) {
      while (this.takes[end]! - this.takes[start]! >= burst) start++;
      peak = Math.max(peak, end - start + 1);
    }
    return Math.min(this.settings.maxPerProxy, peak);
  }
}
