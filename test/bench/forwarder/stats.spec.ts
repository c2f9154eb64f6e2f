import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { percentile, summarize } from './stats.js';

describe('percentile', () => {
  it('nearest rank: p50 of 1..100 is 50, p95 is 95, p99 is 99', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.deepEqual(summarize(samples), { p50: 50, p95: 95, p99: 99 });
  });

  it('small samples: p99 of 3 values is the largest', () => {
    assert.equal(percentile([3, 1, 2], 0.99), 3);
    assert.equal(percentile([3, 1, 2], 0.5), 2);
  });

  it('no samples: NaN', () => {
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });
});
