import type { DialFailureReason } from '@pgw/dialers';

/** Failures that say nothing of the proxy: it answered about the target, or we ended or never sent the request. */
const NOT_THE_PROXY: ReadonlySet<DialFailureReason> = new Set(['target_unreachable', 'target_refused', 'aborted', 'invalid_request']);

/**
 * Dial failures that say something about the proxy itself. A target that is unreachable through
 * a working proxy or that its rules refuse (a client picks those: three connections to a port the
 * proxy forbids asked health for a probe and told every console the proxy could not be reached),
 * a dial we aborted, or a request we never sent do not.
 */
export function countsAgainstProxy(reason: DialFailureReason): boolean {
  return !NOT_THE_PROXY.has(reason);
}

export interface FailureNotice {
  readonly proxyId: number;
  readonly reason: DialFailureReason;
  readonly failures: number;
}

interface ProxyFailures {
  consecutive: number;
  reason: DialFailureReason;
}

/**
 * Consecutive dial failures per proxy: from `threshold` on, each failure asks for a notice (the
 * caller rate-limits them per proxy, PerKeyDebouncer, with a trailing notice so failures within
 * its window are not lost) and `notice` tells the streak as it stands when one goes out. A success
 * ends the streak. Pure.
 */
export class UpstreamFailureTracker {
  private readonly byProxy = new Map<number, ProxyFailures>();

  constructor(private readonly threshold: number) {}

  /** Counts a failure; true when the health service should hear of the proxy. */
  failure(proxyId: number, reason: DialFailureReason): boolean {
    if (!countsAgainstProxy(reason)) return false;
    const entry = this.byProxy.get(proxyId) ?? { consecutive: 0, reason };
    entry.consecutive++;
    entry.reason = reason;
    this.byProxy.set(proxyId, entry);
    return entry.consecutive >= this.threshold;
  }

  /** The notice for the proxy's streak now; null when a success ended it (nothing to report). */
  notice(proxyId: number): FailureNotice | null {
    const entry = this.byProxy.get(proxyId);
    if (entry === undefined || entry.consecutive < this.threshold) return null;
    return { proxyId, reason: entry.reason, failures: entry.consecutive };
  }

  success(proxyId: number): void {
    this.byProxy.delete(proxyId);
  }

  /** Forget proxies that no mapping uses any more. */
  retain(proxyIds: ReadonlySet<number>): void {
    for (const id of this.byProxy.keys()) if (!proxyIds.has(id)) this.byProxy.delete(id);
  }
}
