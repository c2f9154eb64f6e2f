import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJobData } from './worker.js';

describe('parseJobData', () => {
  it('accepts the contract shape', () => {
    assert.deepEqual(parseJobData({ proxyId: 3, trigger: 'on_demand' }), { proxyId: 3, trigger: 'on_demand' });
  });

  it('names the bad field', () => {
    assert.throws(() => parseJobData({ proxyId: '3', trigger: 'on_demand' }), /data\.proxyId must be a positive integer \(is "3"\)/);
    assert.throws(() => parseJobData({ proxyId: 3, trigger: 'now' }), /data\.trigger must be one of periodic, on_demand, upstream_failure, liveness/);
    assert.throws(() => parseJobData(null), /data\.proxyId/);
  });
});
