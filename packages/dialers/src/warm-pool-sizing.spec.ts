import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BURST_MS, MIN_AGE_MS, MIN_BURST_MS, OFF_MS, REJECTIONS_OFF, WarmPoolSizing } from './warm-pool-sizing.js';

const SETTINGS = { maxPerProxy: 4, maxAgeMs: 3_000, demandWindowMs: 30_000 };

describe('WarmPoolSizing', () => {
  it('keeps nothing for a proxy nobody has asked for', () => {
    assert.equal(new WarmPoolSizing(SETTINGS).target(0), 0);
  });

  it('sizes to the largest burst within BURST_MS, capped', () => {
    const sizing = new WarmPoolSizing(SETTINGS);
    sizing.recordTake(1_000);
    assert.equal(sizing.target(1_000), 1);
    // Three at once later: the peak is 3, the earlier single take does not add to it.
    for (const t of [5_000, 5_010, 5_020]) sizing.recordTake(t);
    assert.equal(sizing.target(5_020), 3);
    // Takes spread wider than a burst do not add up.
    const spread = new WarmPoolSizing(SETTINGS);
    for (let t = 0; t < 10 * BURST_MS; t += BURST_MS) spread.recordTake(t);
    assert.equal(spread.target(10 * BURST_MS), 1);
    const many = new WarmPoolSizing(SETTINGS);
    for (let i = 0; i < 20; i++) many.recordTake(100 + i);
    assert.equal(many.target(200), SETTINGS.maxPerProxy);
  });

  it('once opens are timed, counts as one burst only the takes closer together than a refill', () => {
    const sizing = new WarmPoolSizing(SETTINGS);
    sizing.recordOpen(100);
    assert.equal(sizing.burstMs, 150);
    // One client, one connection every 300 ms: each is served by the warm connection opened after the previous one.
    for (let t = 0; t <= 1_200; t += 300) sizing.recordTake(t);
    assert.equal(sizing.target(1_200), 1);
    // Three within 100 ms: three warm connections.
    for (const t of [2_000, 2_040, 2_080]) sizing.recordTake(t);
    assert.equal(sizing.target(2_080), 3);
    // Smoothed, and bounded on both sides.
    sizing.recordOpen(200);
    assert.equal(sizing.burstMs, 1.5 * (0.7 * 100 + 0.3 * 200));
    const fast = new WarmPoolSizing(SETTINGS);
    fast.recordOpen(1);
    assert.equal(fast.burstMs, MIN_BURST_MS);
    const slow = new WarmPoolSizing(SETTINGS);
    slow.recordOpen(5_000);
    assert.equal(slow.burstMs, BURST_MS);
  });

  it('drops to 0 once the proxy has been idle for the demand window', () => {
    const sizing = new WarmPoolSizing(SETTINGS);
    for (const t of [0, 1, 2]) sizing.recordTake(t);
    assert.equal(sizing.target(SETTINGS.demandWindowMs - 1), 3);
    assert.equal(sizing.target(SETTINGS.demandWindowMs + 2), 0);
  });

  it('halves the max age below the age at which the proxy closed a warm connection', () => {
    const sizing = new WarmPoolSizing(SETTINGS);
    assert.equal(sizing.maxAgeMs, 3_000);
    assert.equal(sizing.recordRejection(2_000, 0), false);
    assert.equal(sizing.maxAgeMs, 1_000);
    // A later, longer-lived loss does not raise it again.
    sizing.recordRejection(2_500, 0);
    assert.equal(sizing.maxAgeMs, 1_000);
  });

  it(`turns off for OFF_MS after ${REJECTIONS_OFF} losses in a row, and a use in between resets the count`, () => {
    const sizing = new WarmPoolSizing(SETTINGS);
    sizing.recordTake(0);
    for (let i = 1; i < REJECTIONS_OFF; i++) assert.equal(sizing.recordRejection(null, 0), false);
    sizing.recordUse();
    for (let i = 1; i < REJECTIONS_OFF; i++) assert.equal(sizing.recordRejection(null, 0), false);
    assert.equal(sizing.recordRejection(null, 10), true);
    assert.equal(sizing.isOff(10), true);
    sizing.recordTake(20);
    assert.equal(sizing.target(20), 0);
    // Tried again after the off period, with the configured age.
    sizing.recordTake(10 + OFF_MS);
    assert.equal(sizing.isOff(10 + OFF_MS), false);
    assert.equal(sizing.target(10 + OFF_MS), 1);
    assert.equal(sizing.maxAgeMs, SETTINGS.maxAgeMs);
  });

  it('turns off at once when the proxy closes warm connections too young to be useful', () => {
    const sizing = new WarmPoolSizing(SETTINGS);
    assert.equal(sizing.recordRejection(2 * MIN_AGE_MS - 2, 0), true);
    assert.equal(sizing.isOff(1), true);
  });

  it('refuses settings it cannot work with', () => {
    assert.throws(() => new WarmPoolSizing({ ...SETTINGS, maxPerProxy: 0 }), /maxPerProxy >= 1/);
    assert.throws(() => new WarmPoolSizing({ ...SETTINGS, maxAgeMs: MIN_AGE_MS - 1 }), /maxAgeMs/);
  });
});
