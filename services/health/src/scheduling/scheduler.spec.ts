import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PeriodicScheduler, type ScheduledProxy } from './scheduler.js';
import { maxInWindow, nextPhaseAt } from './spread.js';
import { FakeTimers } from '../../../../test/support/fake-timers.js';

const INTERVAL = 30_000;
const T0 = 1_700_000_000_000;

function setup() {
  const timers = new FakeTimers(T0);
  const probes: { id: number; at: number; endpointKey: string }[] = [];
  const scheduler = new PeriodicScheduler((id, endpointKey) => probes.push({ id, at: timers.now(), endpointKey }), timers);
  scheduler.start();
  return { timers, probes, scheduler };
}

const known = (id: number, endpointKey = `k${id}`): ScheduledProxy => ({ id, endpointKey, probeNow: false });

describe('PeriodicScheduler', () => {
  it('probes every known proxy once per period, spread over the period', () => {
    const { timers, probes, scheduler } = setup();
    scheduler.sync(Array.from({ length: 256 }, (_, i) => known(i + 1)), INTERVAL);
    timers.advance(INTERVAL);
    assert.equal(probes.length, 256);
    assert.equal(new Set(probes.map((p) => p.id)).size, 256);
    assert.ok(maxInWindow(probes.map((p) => p.at), 1_000) <= 11);
    timers.advance(2 * INTERVAL);
    assert.equal(probes.length, 3 * 256);
    for (const id of [1, 100, 256]) {
      const times = probes.filter((p) => p.id === id).map((p) => p.at);
      assert.deepEqual([times[1]! - times[0]!, times[2]! - times[1]!], [INTERVAL, INTERVAL]);
    }
  });

  it('probes never-checked proxies at once', () => {
    const { timers, probes, scheduler } = setup();
    scheduler.sync([{ id: 3, endpointKey: 'a', probeNow: true }, known(4)], INTERVAL);
    // The timer for "now" is a 0 ms timeout: nothing runs synchronously inside sync().
    assert.equal(probes.length, 0);
    timers.advance(0);
    assert.deepEqual(probes, [{ id: 3, at: T0, endpointKey: 'a' }]);
  });

  it('probes a proxy at once when its endpoint changes, naming the new endpoint, then keeps its phase', () => {
    const { timers, probes, scheduler } = setup();
    scheduler.sync([known(9)], INTERVAL);
    timers.advance(INTERVAL);
    const firstCount = probes.length;
    assert.equal(probes.at(-1)!.endpointKey, 'k9');
    scheduler.sync([known(9, 'changed')], INTERVAL);
    timers.advance(0);
    assert.equal(probes.length, firstCount + 1);
    assert.deepEqual(probes.at(-1), { id: 9, at: timers.now(), endpointKey: 'changed' });
    timers.advance(INTERVAL);
    assert.equal(probes.length, firstCount + 2);
  });

  it('stops probing deleted proxies', () => {
    const { timers, probes, scheduler } = setup();
    scheduler.sync([known(1), known(2)], INTERVAL);
    scheduler.sync([known(2)], INTERVAL);
    timers.advance(3 * INTERVAL);
    assert.deepEqual([...new Set(probes.map((p) => p.id))], [2]);
    assert.equal(scheduler.size, 1);
  });

  it('moves to a shorter interval without waiting out the old one', () => {
    const { timers, probes, scheduler } = setup();
    scheduler.sync([known(5)], 600_000);
    scheduler.sync([known(5)], 10_000);
    timers.advance(10_000);
    assert.equal(probes.length, 1);
    timers.advance(20_000);
    assert.equal(probes.length, 3);
  });

  it('a node taking over as the prober probes at once what the old leader left overdue (issue 18)', () => {
    const { timers, probes, scheduler } = setup();
    scheduler.sync([{ ...known(7), lastProbedAt: T0 - INTERVAL - 2_000 }], INTERVAL);
    timers.advance(0);
    assert.deepEqual(probes, [{ id: 7, at: T0, endpointKey: 'k7' }]);
  });

  it('a node taking over never probes a proxy sooner than one interval after its last probe by any node', () => {
    const { timers, probes, scheduler } = setup();
    // The old leader probed proxy 7 at its last phase, up to one interval ago: the next probe is at its next phase.
    const phase = nextPhaseAt(7, INTERVAL, T0);
    scheduler.sync([{ ...known(7), lastProbedAt: phase - INTERVAL }], INTERVAL);
    timers.advance(phase - T0 - 1);
    assert.equal(probes.length, 0);
    timers.advance(1 + INTERVAL);
    assert.deepEqual(probes.map((p) => p.at), [phase, phase + INTERVAL]);
  });

  it('does nothing after stop()', () => {
    const { timers, probes, scheduler } = setup();
    scheduler.sync([known(1)], INTERVAL);
    scheduler.stop();
    timers.advance(5 * INTERVAL);
    assert.equal(probes.length, 0);
  });
});

describe('PeriodicScheduler under a clock step', () => {
  it('a wall clock stepped back an hour (NTP, a restored VM) delays no probe beyond one interval', () => {
    const { timers, probes, scheduler } = setup();
    scheduler.sync([known(1)], INTERVAL);
    timers.advance(INTERVAL);
    assert.equal(probes.length, 1);
    timers.stepClock(-3_600_000);
    timers.advance(INTERVAL);
    assert.equal(probes.length, 2, 'no probe within an interval after the step');
    timers.advance(2 * INTERVAL);
    assert.equal(probes.length, 4, 'one per interval from then on');
  });
});
