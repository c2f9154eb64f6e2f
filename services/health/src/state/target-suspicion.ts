/**
 * "Health checks lie both ways": a rate-limited or dead check URL makes every proxy look dead.
 * When the check fails through every proxy at once, the check target is the likely problem.
 * The proxies stay down (fail closed); this only changes what operators are told.
 */

/** Fewer proxies than this failing together is not evidence against the target. */
export const MIN_PROXIES_FOR_TARGET_SUSPICION = 3;

export interface LatestProbe {
  readonly ok: boolean;
  /** False when the proxy itself refused or could not be connected to: that failure is the proxy's. */
  readonly reachedProxy: boolean;
  /** When its result came. */
  readonly atMs: number;
  /** When the probe started (the proxy's row read for it): which of two probes is the later one. */
  readonly startedAtMs: number;
}

/**
 * The probe to keep as a proxy's latest: `probe`, unless the one kept started later. Results can
 * come out of order (a slow probe ends after a later one); the status keeps the later probe's
 * result and has the earlier one in its history only, and so does the verdict here.
 */
export function laterProbe(kept: LatestProbe | undefined, probe: LatestProbe): LatestProbe {
  return kept !== undefined && kept.startedAtMs > probe.startedAtMs ? kept : probe;
}

export interface TargetVerdict {
  readonly suspected: boolean;
  /** Proxies with a probe inside the window. */
  readonly considered: number;
  readonly failing: number;
}

/**
 * Suspects the check target when at least MIN proxies were probed within `windowMs` and every
 * one of them failed after its proxy had been reached (a refused TCP connection to the proxy
 * points at the proxy, not the target).
 */
export function judgeCheckTarget(latest: Iterable<LatestProbe>, nowMs: number, windowMs: number): TargetVerdict {
  let considered = 0;
  let failing = 0;
  let failingBeyondProxy = 0;
  for (const probe of latest) {
    if (nowMs - probe.atMs > windowMs) continue;
    considered++;
    if (!probe.ok) {
      failing++;
      if (probe.reachedProxy) failingBeyondProxy++;
    }
  }
  const suspected = considered >= MIN_PROXIES_FOR_TARGET_SUSPICION && failingBeyondProxy === considered;
  return { suspected, considered, failing };
}
