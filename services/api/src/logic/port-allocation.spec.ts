import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lowestFreePort } from './port-allocation.js';

test('allocates the lowest free port, fills gaps, reports a full range', () => {
  assert.equal(lowestFreePort(20000, 20005, []), 20000);
  assert.equal(lowestFreePort(20000, 20005, [20000, 20001, 20003]), 20002);
  assert.equal(lowestFreePort(20000, 20001, [20000, 20001, 30000]), null);
  assert.equal(lowestFreePort(7, 7, [6, 8]), 7);
});
