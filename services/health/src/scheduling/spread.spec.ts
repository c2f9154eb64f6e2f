import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maxInWindow, nextPhaseAt, phaseOffsetMs } from './spread.js';

/** Phases of `n` consecutive ids, wrapped twice so windows across the period boundary count. */
function phases(firstId: number, n: number, intervalMs: number): number[] {
  const offsets = Array.from({ length: n }, (_, i) => phaseOffsetMs(firstId + i, intervalMs));
  return [...offsets, ...offsets.map((t) => t + intervalMs)];
}

describe('phaseOffsetMs', () => {
  it('stays inside the period and is stable for an id', () => {
    for (let id = 1; id <= 2000; id++) {
      const offset = phaseOffsetMs(id, 30_000);
      assert.ok(offset >= 0 && offset < 30_000, `id ${id}: ${offset}`);
    }
    assert.equal(phaseOffsetMs(17, 30_000), phaseOffsetMs(17, 30_000));
  });

  it('spreads 256 consecutive ids over 30 s with no bunching', () => {
    for (const firstId of [1, 500, 10_000]) {
      const max = maxInWindow(phases(firstId, 256, 30_000), 1_000);
      // The mean is 256/30 = 8.5 per second.
      assert.ok(max <= 11, `ids ${firstId}..: ${max} probes in one second`);
    }
  });

  it('spreads 1000 proxies over 30 s to at most 1.2x the mean per second', () => {
    assert.ok(maxInWindow(phases(1, 1000, 30_000), 1_000) <= 40);
  });

  it('rejects ids and intervals that are not positive integers', () => {
    assert.throws(() => phaseOffsetMs(0, 30_000), /proxy id must be a positive integer/);
    assert.throws(() => phaseOffsetMs(3, 0), /probe interval/);
  });
});

describe('nextPhaseAt', () => {
  it('returns the next time on the phase, strictly after the given time', () => {
    const interval = 30_000;
    const offset = phaseOffsetMs(5, interval);
    const base = 1_700_000_010_000 - (1_700_000_010_000 % interval);
    assert.equal(nextPhaseAt(5, interval, base + offset - 1), base + offset);
    assert.equal(nextPhaseAt(5, interval, base + offset), base + offset + interval);
    for (const after of [base, base + 12_345, base + interval - 1]) {
      const next = nextPhaseAt(5, interval, after);
      assert.ok(next > after && next <= after + interval);
      assert.equal((next - offset) % interval, 0);
    }
  });
});

describe('maxInWindow', () => {
  it('counts the busiest window', () => {
    assert.equal(maxInWindow([0, 100, 999, 1000, 5000], 1_000), 3);
    assert.equal(maxInWindow([], 1_000), 0);
  });
});
