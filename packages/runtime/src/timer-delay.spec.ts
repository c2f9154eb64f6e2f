import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TIMER_DELAY_MS, timerDelay } from './timer-delay.js';

test('a delay setTimeout keeps: none for a time past, the longest for one beyond ~24.8 days', () => {
  assert.equal(timerDelay(1_000, 400), 600);
  assert.equal(timerDelay(400, 1_000), 0);
  const thirtyDays = 30 * 86_400_000;
  assert.equal(timerDelay(thirtyDays, 0), MAX_TIMER_DELAY_MS);
  assert.equal(MAX_TIMER_DELAY_MS, 2_147_483_647);
});
