import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SETTINGS, settingsSchema } from './settings.js';

const change = (retention: Record<string, unknown>) => settingsSchema.safeParse({ ...DEFAULT_SETTINGS, ...retention });
const messages = (retention: Record<string, unknown>) => {
  const parsed = change(retention);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

test('the retention settings within their bounds pass; absent ones are kept (no value)', () => {
  assert.equal(change({ usageMinuteRetentionHours: 24, usageHourRetentionDays: 30, usageDayRetentionDays: 365 }).success, true);
  assert.equal(change({ usageMinuteRetentionHours: 168, usageHourRetentionDays: 7, usageDayRetentionDays: 7 }).success, true);
  assert.equal(settingsSchema.parse(DEFAULT_SETTINGS).usageMinuteRetentionHours, undefined);
});

test('out of bounds or not whole: an error naming the field, the bound and the unit', () => {
  assert.deepEqual(messages({ usageMinuteRetentionHours: 169 }), ['usageMinuteRetentionHours: must be at most 168 hours (a week of minutes; the hourly history covers longer)']);
  assert.deepEqual(messages({ usageHourRetentionDays: 0 }), ['usageHourRetentionDays: must be at least 1 day']);
  assert.deepEqual(messages({ usageDayRetentionDays: 3651 }), ['usageDayRetentionDays: must be at most 3650 days (ten years)']);
  assert.deepEqual(messages({ usageDayRetentionDays: 1.5 }), ['usageDayRetentionDays: must be a whole number of days']);
  assert.deepEqual(messages({ usageMinuteRetentionHours: '24' }), ['usageMinuteRetentionHours: must be a whole number of hours']);
});

test('a coarser history shorter than the finer one is refused', () => {
  assert.deepEqual(messages({ usageMinuteRetentionHours: 72, usageHourRetentionDays: 2 }), ['usageHourRetentionDays: must reach at least as far back as the minute history (72 hours = 3 days)']);
  assert.deepEqual(messages({ usageHourRetentionDays: 30, usageDayRetentionDays: 20 }), ["usageDayRetentionDays: must be at least the hour history's 30 days"]);
});
