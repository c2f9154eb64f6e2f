import { z } from 'zod';

/**
 * How long the per-client accounting history keeps each resolution (issue 16; settings columns of
 * migration 0011, whose CHECKs hold the same bounds): minute buckets in hours, hour and day buckets
 * in days. The api prunes past them and picks a coarser resolution for a range the finer one no
 * longer reaches.
 */
const wholeNumber = (unit: string, min: number, max: number, beyond: string) =>
  z
    .number({ error: `must be a whole number of ${unit}` })
    .int(`must be a whole number of ${unit}`)
    .min(min, `must be at least ${min} ${min === 1 ? unit.slice(0, -1) : unit}`)
    .max(max, `must be at most ${max} ${unit} (${beyond})`);

export const usageMinuteRetentionSchema = wholeNumber('hours', 1, 168, 'a week of minutes; the hourly history covers longer');
export const usageHourRetentionSchema = wholeNumber('days', 1, 366, 'a year of hours; the daily history covers longer');
export const usageDayRetentionSchema = wholeNumber('days', 1, 3650, 'ten years');

export interface UsageRetention {
  readonly usageMinuteRetentionHours?: number | undefined;
  readonly usageHourRetentionDays?: number | undefined;
  readonly usageDayRetentionDays?: number | undefined;
}

/**
 * A coarser history must reach at least as far back as the finer one: otherwise a chart over a
 * range the finer one does not cover falls back to a history that covers even less. Checked
 * between the values given (a change without a field keeps the stored one).
 */
export function usageRetentionIssues(r: UsageRetention): { path: string[]; message: string }[] {
  const issues: { path: string[]; message: string }[] = [];
  const { usageMinuteRetentionHours: minutesH, usageHourRetentionDays: hoursD, usageDayRetentionDays: daysD } = r;
  if (minutesH !== undefined && hoursD !== undefined && hoursD * 24 < minutesH) {
    issues.push({ path: ['usageHourRetentionDays'], message: `must reach at least as far back as the minute history (${minutesH} hours = ${Math.ceil(minutesH / 24)} days)` });
  }
  if (hoursD !== undefined && daysD !== undefined && daysD < hoursD) {
    issues.push({ path: ['usageDayRetentionDays'], message: `must be at least the hour history's ${hoursD} days` });
  }
  return issues;
}
