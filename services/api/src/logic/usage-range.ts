import type { UsageResolution } from '../contract/types.js';
import { invalid } from './domain-errors.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The longest range asked at once: a year of days is 366 buckets per client. */
export const MAX_RANGE_MS = 366 * DAY_MS;

export interface UsageRange {
  readonly from: Date;
  readonly to: Date;
}

/** The validator's date-time check is syntax only ("2026-19-39T29:00:00Z" passes): an Invalid Date would throw a 500 later. */
function dateOf(field: 'from' | 'to', text: string): Date {
  const parsed = new Date(text);
  if (Number.isNaN(parsed.getTime())) throw invalid(field, `${field} is not a date and time (ISO 8601, e.g. 2026-01-31T12:00:00Z)`);
  return parsed;
}

/** from/to as the query gives them (ISO 8601, both optional): default the 24 h up to now. */
export function usageRange(fromText: string | undefined, toText: string | undefined, now: Date): UsageRange {
  const to = toText === undefined ? now : dateOf('to', toText);
  const from = fromText === undefined ? new Date(to.getTime() - DAY_MS) : dateOf('from', fromText);
  if (from.getTime() >= to.getTime()) throw invalid('from', `from ${from.toISOString()} must be before to ${to.toISOString()}`);
  if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw invalid('from', 'the range must not be longer than 366 days');
  return { from, to };
}

/**
 * The resolution of a range: minutes up to 6 h (360 buckets), hours up to 8 days (192), days beyond;
 * a coarser one when the finer history (kept for `retentionMs` of each) no longer reaches `from`.
 */
export function pickResolution(range: UsageRange, now: Date, retentionMs: Readonly<Record<UsageResolution, number>>): UsageResolution {
  const span = range.to.getTime() - range.from.getTime();
  const candidates: UsageResolution[] = span <= 6 * HOUR_MS ? ['minute', 'hour', 'day'] : span <= 8 * DAY_MS ? ['hour', 'day'] : ['day'];
  return candidates.find((r) => range.from.getTime() >= now.getTime() - retentionMs[r]) ?? 'day';
}

const BUCKET_MS: Readonly<Record<UsageResolution, number>> = { minute: 60_000, hour: HOUR_MS, day: DAY_MS };

/**
 * The start of the bucket holding `at` (buckets are whole UTC minutes, hours and days): where a
 * range's read begins, so that a range starting within a bucket has that bucket's traffic in its
 * first bar and its totals (read from `at` itself, the console's 24 h, 7 d and 30 d views, which
 * start at "now minus the span", always drew an empty first bar and left it out of the totals).
 */
export function bucketStart(at: Date, resolution: UsageResolution): Date {
  const step = BUCKET_MS[resolution];
  return new Date(Math.floor(at.getTime() / step) * step);
}
