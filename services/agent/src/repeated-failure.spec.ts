import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RepeatedFailure } from './repeated-failure.js';

test('a lasting failure is logged once a minute with its count, a new one at once, again after a success', () => {
  const log = new RepeatedFailure(60_000);
  const seen = [0, 2_000, 4_000, 58_000].map((t) => log.failed('state file: ENOSPC', t));
  assert.deepEqual(seen, [{ repeatedSince: 0 }, null, null, null]);
  assert.deepEqual(log.failed('state file: ENOSPC', 60_000), { repeatedSince: 3 });
  assert.deepEqual(log.failed('settings refused', 61_000), { repeatedSince: 0 }, 'another failure at once');
  log.succeeded();
  assert.deepEqual(log.failed('settings refused', 62_000), { repeatedSince: 0 }, 'after a success it is new');
});
