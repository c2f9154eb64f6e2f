/** The longest delay setTimeout keeps: beyond it Node fires after 1 ms (TimeoutOverflowWarning). */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * The delay for a timer due at `at` (epoch ms), seen at `now`: never negative, and never longer than
 * setTimeout keeps. A time further away (a clock far behind, a date far ahead) fires at the longest
 * delay, when the caller works out the time left again, instead of after 1 ms, and again after each.
 */
export function timerDelay(at: number, now: number): number {
  return Math.min(MAX_TIMER_DELAY_MS, Math.max(0, at - now));
}
