import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quotaPeriodAt } from '../../services/agent/src/quota/quota-period.js';
import { dailyZoneFarFromMidnight } from './quiet-time-zone.js';

test('dailyZoneFarFromMidnight: at any hour, a zone whose day neither began nor ends within 4 hours', () => {
  const base = Date.parse('2026-12-06T00:00:00Z');
  for (let minutes = 0; minutes < 48 * 60; minutes += 7) {
    const at = new Date(base + minutes * 60_000);
    const { timeZone, marginMs } = dailyZoneFarFromMidnight(at);
    const { start, end } = quotaPeriodAt(at, 'daily', timeZone);
    assert.ok(marginMs >= 4 * 3_600_000, `${at.toISOString()}: ${timeZone} only ${marginMs} ms from its midnight`);
    assert.equal(marginMs, Math.min(at.getTime() - start.getTime(), end.getTime() - at.getTime()));
  }
});

test('dailyZoneFarFromMidnight: 23:00 UTC, the Berlin midnight a CI run crossed, is not picked in Berlin', () => {
  const { timeZone } = dailyZoneFarFromMidnight(new Date('2026-12-06T23:00:00Z'));
  assert.notEqual(timeZone, 'Europe/Berlin');
});
