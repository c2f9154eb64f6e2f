import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatQuotaPair, formatRate, formatRatePair, parseQuotaGb, parseRateMbit, quotaShare, quotaToGbField, rateToMbitField } from './usage-format.js';

test('bytes in decimal units, rates in kbit/s or Mbit/s', () => {
  assert.deepEqual([0, 999, 1000, 1_500_000, 10_000_000_000, 123_400_000].map(formatBytes), ['0 B', '999 B', '1 kB', '1.5 MB', '10 GB', '123 MB']);
  assert.deepEqual([null, 64, 50_000, 1_500].map(formatRate), ['unlimited', '64 kbit/s', '50 Mbit/s', '1.5 Mbit/s']);
});

test('one short cell for both limits and for used of quota', () => {
  assert.deepEqual([formatRatePair(50_000, 20_000), formatRatePair(null, 500), formatRatePair(1_500, null)], ['↓50M ↑20M bit/s', '↓∞ ↑500k bit/s', '↓1.5M ↑∞ bit/s']);
  assert.deepEqual([formatQuotaPair(10_500_000, 10_000_000), formatQuotaPair(null, 2_500_000_000), formatQuotaPair(0, 1_000_000)], ['10.5/10 MB', '?/2.5 GB', '0/1 MB']);
});

test("the form's fields: empty is unlimited, anything else a plain decimal number", () => {
  assert.deepEqual(['', ' 50 ', '0.064', '1.5', 'abc', '-1', '1e3'].map(parseRateMbit), [null, 50_000, 64, 1_500, 'invalid', 'invalid', 'invalid']);
  assert.deepEqual(['', '10', '0.01', 'x'].map(parseQuotaGb), [null, 10_000_000_000, 10_000_000, 'invalid']);
  assert.deepEqual([rateToMbitField(50_000), rateToMbitField(null), quotaToGbField(10_000_000), quotaToGbField(null)], ['50', '', '0.01', '']);
  // A quota stored by an import or the api to the byte comes back unchanged through the form (before:
  // "0.0015" was refused, and with it every edit of that mapping, even of its description).
  for (const bytes of [1_500_000, 1_234_567_891, 1_000_000_000_000_000]) assert.equal(parseQuotaGb(quotaToGbField(bytes)), bytes, String(bytes));
});

test('quota share: capped at 1, unknown without a count or a quota', () => {
  assert.deepEqual([quotaShare(5, 10), quotaShare(20, 10), quotaShare(null, 10), quotaShare(5, null)], [0.5, 1, null, null]);
});
