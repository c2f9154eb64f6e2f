import { realTimers, type Timers } from '@pgw/runtime';
import { nextPhaseAt } from './spread.js';

export interface ScheduledProxy {
  readonly id: number;
  /**
   * Changes when the proxy's endpoint or credentials change (endpoint-key.ts): such a proxy is probed
   * at once. Handed to each dispatch, so the probe's job id names the endpoint it is for.
   */
  readonly endpointKey: string;
  /** Never probed or reset (status unknown): probed at once rather than at its phase. */
  readonly probeNow: boolean;
  /**
   * When any node last probed it (Postgres' last_checked_at, ms). A node that takes over as the
   * prober (leadership.ts) probes at once what the old leader left overdue, and no sooner than one
   * interval after that probe otherwise: no period is skipped, none probed twice.
   */
  readonly lastProbedAt?: number;
}

/** A new proxy's first probe: at its phase, or at once when the last probe (by any node) is a period old. */
function firstDueAt(proxy: ScheduledProxy, intervalMs: number, now: number): number {
  const phase = nextPhaseAt(proxy.id, intervalMs, now);
  if (proxy.lastProbedAt === undefined) return phase;
  return Math.min(phase, Math.max(now, proxy.lastProbedAt + intervalMs));
}

/**
 * One periodic probe per proxy, each at its own phase of the period (spread.ts), driven by a
 * single timer set to the earliest due time. Level-triggered: sync() takes the whole current
 * proxy list (from Postgres) and the interval, so a lost notice only delays a change until the
 * next reconcile.
 */
export class PeriodicScheduler {
  private readonly dueAt = new Map<number, { endpointKey: string; at: number }>();
  private intervalMs = 0;
  private timer: unknown;
  private stopped = true;

  constructor(
    private readonly dispatch: (proxyId: number, endpointKey: string) => void,
    private readonly timers: Timers = realTimers,
  ) {}

  get size(): number {
    return this.dueAt.size;
  }

  start(): void {
    this.stopped = false;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  sync(proxies: readonly ScheduledProxy[], intervalMs: number): void {
    const now = this.timers.now();
    const intervalChanged = intervalMs !== this.intervalMs;
    this.intervalMs = intervalMs;
    const present = new Set<number>();
    for (const proxy of proxies) {
      present.add(proxy.id);
      const entry = this.dueAt.get(proxy.id);
      if (entry === undefined) {
        this.dueAt.set(proxy.id, { endpointKey: proxy.endpointKey, at: proxy.probeNow ? now : firstDueAt(proxy, intervalMs, now) });
      } else if (entry.endpointKey !== proxy.endpointKey) {
        this.dueAt.set(proxy.id, { endpointKey: proxy.endpointKey, at: now });
      } else if (intervalChanged) {
        // Move to the new phase without ever waiting longer than the new interval.
        entry.at = Math.min(entry.at, nextPhaseAt(proxy.id, intervalMs, now));
      }
    }
    for (const id of this.dueAt.keys()) if (!present.has(id)) this.dueAt.delete(id);
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped || this.dueAt.size === 0) return;
    let earliest = Infinity;
    for (const entry of this.dueAt.values()) earliest = Math.min(earliest, entry.at);
    // Never longer than one interval: a due time is at most that far ahead unless the clock stepped back.
    this.timer = this.timers.setTimeout(() => this.tick(), Math.min(this.intervalMs, Math.max(0, earliest - this.timers.now())));
  }

  private tick(): void {
    this.timer = undefined;
    const now = this.timers.now();
    for (const [id, entry] of this.dueAt) {
      // Due times are on the wall clock (they start from Postgres' last_checked_at). One more than an
      // interval ahead means the clock stepped back: due now, or every probe (those that find a
      // proxy that accepts TCP but no longer proxies) waited for as long as the step.
      if (entry.at > now && entry.at - now <= this.intervalMs) continue;
      entry.at = nextPhaseAt(id, this.intervalMs, now);
      this.dispatch(id, entry.endpointKey);
    }
    this.arm();
  }
}
