import type { QuotaPeriod } from '@pgw/domain';

/**
 * Quota periods (issue 16): a quota counts from the start of the current day or month in the reset
 * time zone (settings quota_period, quota_reset_timezone) and restarts by itself at the next one.
 * Pure: the instant in, the period out. Local midnights are found by the zone's own rules (Intl),
 * so a 23- or 25-hour day around a DST change and months of 28 to 31 days need no special case; in
 * a zone whose clocks skip midnight (the change happens at 00:00), the day starts at the first
 * minute that exists.
 */
/** The settings a quota period follows (quota_period, quota_reset_timezone). */
export interface QuotaSettings {
  readonly period: QuotaPeriod;
  readonly timeZone: string;
}

export interface QuotaPeriodWindow {
  readonly period: QuotaPeriod;
  readonly start: Date;
  /** The next period's start: the count restarts then. */
  readonly end: Date;
  /** Names the period in a quota object's name: d20261201 or m202612 (local date of its start). */
  readonly key: string;
}

interface LocalDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The local wall clock of an instant in a zone, as minutes on a proleptic UTC scale (comparable, not an instant). */
function localMinutes(at: number, timeZone: string): { date: LocalDate; minutes: number } {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(new Date(at)).map((p) => [p.type, p.value]));
  const date = { year: Number(parts.year), month: Number(parts.month), day: Number(parts.day) };
  return { date, minutes: Date.UTC(date.year, date.month - 1, date.day, Number(parts.hour), Number(parts.minute)) / 60_000 };
}

const MINUTE = 60_000;
/** UTC offsets lie within -12 h and +14 h; searching 15 h either side of the naive instant always brackets the answer. */
const SEARCH_MINUTES = 15 * 60;

/** The first instant (whole minute) at which the zone's wall clock reads `date` 00:00 or later. */
function startOfLocalDay(date: LocalDate, timeZone: string): Date {
  const target = Date.UTC(date.year, date.month - 1, date.day) / MINUTE;
  let lo = target - SEARCH_MINUTES;
  let hi = target + SEARCH_MINUTES;
  // Invariant: the clock at lo reads before the target, at hi at or after it.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localMinutes(mid * MINUTE, timeZone).minutes >= target) hi = mid;
    else lo = mid;
  }
  return new Date(hi * MINUTE);
}

function nextDay(d: LocalDate): LocalDate {
  const next = new Date(Date.UTC(d.year, d.month - 1, d.day + 1));
  return { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The period `at` falls in. Throws for a zone the runtime does not know (checked where the setting is read). */
export function quotaPeriodAt(at: Date, period: QuotaPeriod, timeZone: string): QuotaPeriodWindow {
  const { date } = localMinutes(at.getTime(), timeZone);
  if (period === 'daily') {
    const start = startOfLocalDay(date, timeZone);
    return { period, start, end: startOfLocalDay(nextDay(date), timeZone), key: `d${date.year}${pad(date.month)}${pad(date.day)}` };
  }
  const first = { year: date.year, month: date.month, day: 1 };
  const following = date.month === 12 ? { year: date.year + 1, month: 1, day: 1 } : { year: date.year, month: date.month + 1, day: 1 };
  return { period, start: startOfLocalDay(first, timeZone), end: startOfLocalDay(following, timeZone), key: `m${date.year}${pad(date.month)}` };
}
