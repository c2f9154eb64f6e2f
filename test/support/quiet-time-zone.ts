import { quotaPeriodAt } from '../../services/agent/src/quota/quota-period.js';

/** Zones a whole hour apart or so around the world, each the reset zone a lab test may pick. */
const CANDIDATES = ['Pacific/Honolulu', 'America/Los_Angeles', 'America/Chicago', 'America/New_York', 'America/Sao_Paulo', 'UTC', 'Europe/Berlin', 'Europe/Moscow', 'Asia/Dubai', 'Asia/Kolkata', 'Asia/Bangkok', 'Asia/Tokyo', 'Australia/Sydney', 'Pacific/Auckland'];

/**
 * The reset time zone whose current daily period is farthest from its start and from its end at
 * `at`: a test of what a daily quota keeps across something else (an agent restart) must not see
 * the day roll over under it, which a fixed zone does when CI runs near its midnight (an object of
 * the next day then appears, rightly). The margin, in ms, is returned with the zone.
 */
export function dailyZoneFarFromMidnight(at: Date): { timeZone: string; marginMs: number } {
  const margins = CANDIDATES.map((timeZone) => {
    const { start, end } = quotaPeriodAt(at, 'daily', timeZone);
    return { timeZone, marginMs: Math.min(at.getTime() - start.getTime(), end.getTime() - at.getTime()) };
  });
  return margins.reduce((best, z) => (z.marginMs > best.marginMs ? z : best));
}
