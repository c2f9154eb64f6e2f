import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKnownTimeZone } from '@pgw/domain';
import { quotaPeriodAt } from './quota-period.js';

const at = (iso: string) => new Date(iso);
const window = (iso: string, period: 'daily' | 'monthly', zone: string) => {
  const w = quotaPeriodAt(at(iso), period, zone);
  return { start: w.start.toISOString(), end: w.end.toISOString(), key: w.key };
};

test('a UTC day and month', () => {
  assert.deepEqual(window('2026-12-01T14:37:00Z', 'daily', 'UTC'), { start: '2026-12-01T00:00:00.000Z', end: '2026-12-02T00:00:00.000Z', key: 'd20261201' });
  assert.deepEqual(window('2026-12-31T23:59:59.999Z', 'monthly', 'UTC'), { start: '2026-12-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z', key: 'm202612' });
  assert.deepEqual(window('2027-01-01T00:00:00Z', 'monthly', 'UTC'), { start: '2027-01-01T00:00:00.000Z', end: '2027-02-01T00:00:00.000Z', key: 'm202701' });
});

test('month lengths: February in a leap and a common year, 30- and 31-day months', () => {
  assert.equal(window('2028-02-15T12:00:00Z', 'monthly', 'UTC').end, '2028-03-01T00:00:00.000Z');
  assert.equal(window('2027-02-28T23:59:00Z', 'monthly', 'UTC').end, '2027-03-01T00:00:00.000Z');
  assert.equal(window('2028-02-29T10:00:00Z', 'daily', 'UTC').end, '2028-03-01T00:00:00.000Z');
  assert.equal(window('2026-04-30T10:00:00Z', 'daily', 'UTC').end, '2026-05-01T00:00:00.000Z');
  assert.equal(window('2026-01-31T10:00:00Z', 'daily', 'UTC').end, '2026-02-01T00:00:00.000Z');
});

test('the reset time zone decides the day: 23:30 UTC is already tomorrow in Berlin', () => {
  assert.deepEqual(window('2026-12-01T23:30:00Z', 'daily', 'Europe/Berlin'), { start: '2026-12-01T23:00:00.000Z', end: '2026-12-02T23:00:00.000Z', key: 'd20261202' });
  assert.deepEqual(window('2026-11-30T23:30:00Z', 'monthly', 'Europe/Berlin'), { start: '2026-11-30T23:00:00.000Z', end: '2026-12-31T23:00:00.000Z', key: 'm202612' });
  assert.deepEqual(window('2026-12-01T03:00:00Z', 'daily', 'America/New_York'), { start: '2026-11-30T05:00:00.000Z', end: '2026-12-01T05:00:00.000Z', key: 'd20261130' });
  // A zone with a half-hour offset.
  assert.equal(window('2026-12-01T12:00:00Z', 'daily', 'Asia/Kolkata').start, '2026-11-30T18:30:00.000Z');
});

test('DST: the spring-forward day has 23 hours, the fall-back day 25, a month across a change keeps local midnights', () => {
  const spring = quotaPeriodAt(at('2026-03-29T12:00:00Z'), 'daily', 'Europe/Berlin');
  assert.equal(spring.start.toISOString(), '2026-03-28T23:00:00.000Z');
  assert.equal(spring.end.toISOString(), '2026-03-29T22:00:00.000Z');
  assert.equal((spring.end.getTime() - spring.start.getTime()) / 3_600_000, 23);
  const fall = quotaPeriodAt(at('2026-10-25T12:00:00Z'), 'daily', 'Europe/Berlin');
  assert.equal((fall.end.getTime() - fall.start.getTime()) / 3_600_000, 25);
  assert.deepEqual(window('2026-03-15T12:00:00Z', 'monthly', 'America/New_York'), { start: '2026-03-01T05:00:00.000Z', end: '2026-04-01T04:00:00.000Z', key: 'm202603' });
});

test('a zone whose clocks skip midnight starts the day at the first minute that exists', () => {
  // America/Santiago springs forward at 24:00 -> 01:00 on the first Sunday of September (2026-09-06).
  const w = quotaPeriodAt(at('2026-09-06T12:00:00Z'), 'daily', 'America/Santiago');
  assert.equal(w.key, 'd20260906');
  assert.equal(w.start.toISOString(), '2026-09-06T04:00:00.000Z');
  assert.ok(w.start.getTime() <= at('2026-09-06T12:00:00Z').getTime() && w.end.getTime() > at('2026-09-06T12:00:00Z').getTime());
});

test('an instant at the boundary belongs to the new period; each window contains the instant', () => {
  const boundary = quotaPeriodAt(at('2026-12-02T00:00:00Z'), 'daily', 'UTC');
  assert.equal(boundary.key, 'd20261202');
  for (let hour = 0; hour < 24 * 40; hour += 7) {
    const instant = new Date(Date.UTC(2026, 9, 1) + hour * 3_600_000);
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe']) {
      for (const period of ['daily', 'monthly'] as const) {
        const w = quotaPeriodAt(instant, period, zone);
        assert.ok(w.start <= instant && instant < w.end, `${instant.toISOString()} ${zone} ${period}: ${w.start.toISOString()}..${w.end.toISOString()}`);
      }
    }
  }
});

test('unknown zones are told apart', () => {
  assert.equal(isKnownTimeZone('Europe/Berlin'), true);
  assert.equal(isKnownTimeZone('Mars/Olympus'), false);
  assert.throws(() => quotaPeriodAt(new Date(), 'daily', 'Mars/Olympus'), RangeError);
});
