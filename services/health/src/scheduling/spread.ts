/**
 * Where in each period a proxy is probed. The phase is the fractional part of id * (golden
 * ratio - 1): for consecutive ids (serial primary keys) these points are spread almost evenly
 * over the period (three-gap theorem; 256 proxies in 30 s give at most 10 in any 1 s window
 * where the mean is 8.5, uniform random offsets give about 20). The phase depends on the id
 * alone, so it survives restarts and does not move other proxies when one is added or deleted.
 */
const GOLDEN_FRACTION = (Math.sqrt(5) - 1) / 2;

export function phaseOffsetMs(proxyId: number, intervalMs: number): number {
  if (!Number.isInteger(proxyId) || proxyId < 1) throw new Error(`proxy id must be a positive integer (is ${proxyId})`);
  if (!Number.isInteger(intervalMs) || intervalMs < 1) throw new Error(`probe interval must be a positive number of ms (is ${intervalMs})`);
  return Math.floor(((proxyId * GOLDEN_FRACTION) % 1) * intervalMs);
}

/** The first time strictly after `afterMs` (epoch ms) that falls on the proxy's phase. */
export function nextPhaseAt(proxyId: number, intervalMs: number, afterMs: number): number {
  const offset = phaseOffsetMs(proxyId, intervalMs);
  const periodStart = Math.floor((afterMs - offset) / intervalMs) * intervalMs + offset;
  return periodStart + intervalMs;
}

/** The most probes that fall into any window of `windowMs` (times in ms, any order). */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let end = 0;
  for (let start = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! < sorted[start]! + windowMs) end++;
    max = Math.max(max, end - start);
  }
  return max;
}
