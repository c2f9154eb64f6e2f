import type { DialFailureReason } from '@pgw/dialers';

/**
 * Dial failures that say something about the proxy itself. A target that is unreachable
 * through a working proxy, a dial we aborted, or a request we never sent do not.
 */
export function countsAgainstProxy(reason: DialFailureReason): boolean {
  return reason !== 'target_unreachable' && reason !== 'aborted' && reason !== 'invalid_request';
}

export interface FailureNotice {
  readonly proxyId: number;
  readonly reason: DialFailureReason;
  readonly failures: number;
}

interface ProxyFailures {
  consecutive: number;
  lastNoticeAt: number;
}

/**
 * Consecutive dial failures per proxy. At `threshold` it asks for a notice, then at most once
 * per `debounceMs` per proxy while the failures go on. A success ends the streak: the count and
 * the notice window start over, so a proxy that recovers and fails again is reported at once.
 * Pure apart from the clock passed in.
 */
export class UpstreamFailureTracker {
  private readonly byProxy = new Map<number, ProxyFailures>();

  constructor(
    private readonly threshold: number,
    private readonly debounceMs: number,
  ) {}

  /** Returns a notice to publish, or null. */
  failure(proxyId: number, reason: DialFailureReason, now: number): FailureNotice | null {
    if (!countsAgainstProxy(reason)) return null;
    let entry = this.byProxy.get(proxyId);
    if (entry === undefined) {
      entry = { consecutive: 0, lastNoticeAt: -Infinity };
      this.byProxy.set(proxyId, entry);
    }
    entry.consecutive++;
    if (entry.consecutive < this.threshold || now - entry.lastNoticeAt < this.debounceMs) return null;
    entry.lastNoticeAt = now;
    return { proxyId, reason, failures: entry.consecutive };
  }

  success(proxyId: number): void {
    this.byProxy.delete(proxyId);
  }

  /** Forget proxies that no mapping uses any more. */
  retain(proxyIds: ReadonlySet<number>): void {
    for (const id of this.byProxy.keys()) if (!proxyIds.has(id)) this.byProxy.delete(id);
  }
}
