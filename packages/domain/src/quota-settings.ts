import { z } from 'zod';

/**
 * How byte quotas restart (issue 16): at the start of each day or month in the reset time zone
 * (settings quota_period, quota_reset_timezone, migration 0010), besides an operator's reset.
 */
export const QUOTA_PERIODS = ['daily', 'monthly'] as const;
export type QuotaPeriod = (typeof QUOTA_PERIODS)[number];
export const quotaPeriodSchema = z.enum(QUOTA_PERIODS);

/** Whether `timeZone` is an IANA zone this runtime knows. */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** An IANA time zone name the runtime knows (Europe/Berlin, UTC); a typo would move every client's reset. */
export const timeZoneSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/, 'must be an IANA time zone name such as Europe/Berlin or UTC')
  .refine(isKnownTimeZone, 'is not a time zone this system knows (an IANA name such as Europe/Berlin or UTC)');
