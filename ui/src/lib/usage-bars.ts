import type { UsagePoint, UsageResolution } from '../api/types.js';

const STEP_MS: Record<UsageResolution, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

export interface UsageBar {
  readonly at: number;
  readonly x: number;
  readonly width: number;
  /** Heights of the stacked parts (down at the bottom, up on top), in px. */
  readonly down: number;
  readonly up: number;
  readonly bytesDown: number;
  readonly bytesUp: number;
}

/**
 * One bar per bucket of [from, to) at the resolution, the api's missing buckets (no traffic) as
 * empty bars, scaled to the highest bucket. At most a few hundred bars (the api's resolution rule).
 */
export function usageBars(points: readonly UsagePoint[], from: string, to: string, resolution: UsageResolution, width: number, height: number): { bars: UsageBar[]; max: number } {
  const step = STEP_MS[resolution];
  const start = Math.floor(Date.parse(from) / step) * step;
  const end = Date.parse(to);
  const count = Math.max(1, Math.ceil((end - start) / step));
  const byBucket = new Map(points.map((p) => [Date.parse(p.at), p]));
  const max = Math.max(1, ...points.map((p) => p.bytesUp + p.bytesDown));
  const slot = width / count;
  const bars: UsageBar[] = [];
  for (let i = 0; i < count; i++) {
    const at = start + i * step;
    const p = byBucket.get(at);
    const bytesDown = p?.bytesDown ?? 0;
    const bytesUp = p?.bytesUp ?? 0;
    bars.push({ at, x: i * slot, width: Math.max(1, slot - (slot > 3 ? 1 : 0)), down: (bytesDown / max) * height, up: (bytesUp / max) * height, bytesDown, bytesUp });
  }
  return { bars, max };
}
