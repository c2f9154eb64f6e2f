import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { learnedAfterEarlyData } from './handshake-learning.js';

describe('learnedAfterEarlyData', () => {
  const GRACE = 500;

  it('a silent tunnel with a quick first byte without early data: the proxy drops early bytes, pipelined', () => {
    assert.equal(learnedAfterEarlyData('early-data', true, 'pipelined', 20, GRACE), 'pipelined');
    assert.equal(learnedAfterEarlyData(null, true, 'pipelined', 20, GRACE), 'pipelined');
  });

  it('a silent tunnel when the first byte without early data is slow too proves nothing: early-data is kept', () => {
    assert.equal(learnedAfterEarlyData('early-data', true, 'pipelined', GRACE, GRACE), 'early-data');
    // Nothing learned before: pipelined (what worked), early data not claimed.
    assert.equal(learnedAfterEarlyData(null, true, 'pipelined', 2 * GRACE, GRACE), 'pipelined');
  });

  it('a failed try, or a fallback that needed the sequential handshake, is taken as learned', () => {
    assert.equal(learnedAfterEarlyData('early-data', false, 'pipelined', 2 * GRACE, GRACE), 'pipelined');
    assert.equal(learnedAfterEarlyData('early-data', true, 'sequential', 2 * GRACE, GRACE), 'sequential');
  });
});
