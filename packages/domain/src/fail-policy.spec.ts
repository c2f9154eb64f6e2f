import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupProxyIdsSchema } from './fail-policy.js';

test('backup list: at most 8 distinct positive ids', () => {
  assert.equal(backupProxyIdsSchema.safeParse([1, 2, 3]).success, true);
  assert.match(backupProxyIdsSchema.safeParse([2, 2]).error!.issues[0]!.message, /listed twice/);
  assert.equal(backupProxyIdsSchema.safeParse([1, 2, 3, 4, 5, 6, 7, 8, 9]).success, false);
  assert.equal(backupProxyIdsSchema.safeParse([0]).success, false);
});
