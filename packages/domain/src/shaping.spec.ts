import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientShapingSchema, quotaBytesSchema, rateKbitSchema } from './shaping.js';

test('rates: whole kbit/s between 64 and 10 000 000', () => {
  assert.equal(rateKbitSchema.parse(64), 64);
  assert.equal(rateKbitSchema.parse(50_000), 50_000);
  for (const bad of [0, 63, -1, 10_000_001, 1.5, Number.NaN]) assert.equal(rateKbitSchema.safeParse(bad).success, false, String(bad));
});

test('quota: bigint text from Postgres or a number, 1 MB to 1 PB, digits only', () => {
  assert.equal(quotaBytesSchema.parse('10000000'), 10_000_000);
  assert.equal(quotaBytesSchema.parse(1_000_000), 1_000_000);
  for (const bad of ['999999', '1e7', '-5', '10000000.5', '', 999_999, 1e15 + 1]) assert.equal(quotaBytesSchema.safeParse(bad).success, false, String(bad));
});

test('a mapping without limits is unlimited; the message names the bound', () => {
  assert.deepEqual(clientShapingSchema.parse({ rateDownKbit: null, rateUpKbit: null, quotaBytes: null, quotaEpoch: 0 }), {
    rateDownKbit: null,
    rateUpKbit: null,
    quotaBytes: null,
    quotaEpoch: 0,
  });
  const refused = clientShapingSchema.safeParse({ rateDownKbit: 10, rateUpKbit: null, quotaBytes: null, quotaEpoch: 0 });
  assert.equal(refused.success, false);
  assert.match(refused.error!.issues[0]!.message, /at least 64 kbit/);
});
