import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from './domain-errors.js';
import { pickResolution, usageRange } from './usage-range.js';

const now = new Date('2026-12-01T12:00:00Z');
const H = 3_600_000;
const D = 24 * H;
const retention = { minute: 24 * H, hour: 30 * D, day: 365 * D };
const ago = (ms: number) => ({ from: new Date(now.getTime() - ms), to: now });

test('the resolution follows the span: minutes to 6 h, hours to 8 days, then days', () => {
  assert.equal(pickResolution(ago(H), now, retention), 'minute');
  assert.equal(pickResolution(ago(6 * H), now, retention), 'minute');
  assert.equal(pickResolution(ago(24 * H), now, retention), 'hour');
  assert.equal(pickResolution(ago(7 * D), now, retention), 'hour');
  assert.equal(pickResolution(ago(30 * D), now, retention), 'day');
});

test('a coarser resolution when the finer history no longer reaches back to from', () => {
  const twoDaysAgo = { from: new Date(now.getTime() - 2 * D), to: new Date(now.getTime() - 2 * D + H) };
  assert.equal(pickResolution(twoDaysAgo, now, retention), 'hour');
  const monthsAgo = { from: new Date(now.getTime() - 60 * D), to: new Date(now.getTime() - 60 * D + H) };
  assert.equal(pickResolution(monthsAgo, now, retention), 'day');
  assert.equal(pickResolution(twoDaysAgo, now, { ...retention, minute: 72 * H }), 'minute');
});

test('the range: default the last 24 h; from must come before to; at most 366 days', () => {
  assert.deepEqual(usageRange(undefined, undefined, now), { from: new Date(now.getTime() - D), to: now });
  assert.deepEqual(usageRange('2026-11-30T00:00:00Z', '2026-11-30T06:00:00Z', now).to, new Date('2026-11-30T06:00:00Z'));
  const field = (e: unknown) => e instanceof DomainError && e.field === 'from';
  assert.throws(() => usageRange('2026-12-01T12:00:00Z', '2026-12-01T11:00:00Z', now), field);
  assert.throws(() => usageRange('2025-01-01T00:00:00Z', '2026-12-01T00:00:00Z', now), (e: unknown) => field(e) && /366 days/.test((e as Error).message));
});

test('a from or to that is no date (the validator\'s fast date-time check lets "2026-19-39T29:00:00Z" through) is refused naming the field, not a 500', () => {
  for (const [from, to, field] of [['2026-19-39T29:00:00Z', undefined, 'from'], [undefined, '2026-02-30T25:61:00Z', 'to']] as const) {
    assert.throws(() => usageRange(from, to, now), (error) => error instanceof DomainError && error.kind === 'invalid' && error.field === field && /not a date/.test(error.message));
  }
});
