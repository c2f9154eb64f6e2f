import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PerKeyDebouncer } from './per-key-debouncer.js';
import { FakeTimers } from '../../../test/support/fake-timers.js';

function setup(windowMs = 1_000) {
  const timers = new FakeTimers();
  const fired: [number, number][] = [];
  const debouncer = new PerKeyDebouncer<number>(windowMs, (key) => fired.push([key, timers.now()]), timers);
  return { timers, fired, debouncer };
}

describe('PerKeyDebouncer', () => {
  it('fires the first notice at once', () => {
    const { fired, debouncer } = setup();
    debouncer.notify(7);
    assert.deepEqual(fired, [[7, 0]]);
  });

  it('folds a burst into one trailing call at the end of the window', () => {
    const { timers, fired, debouncer } = setup();
    debouncer.notify(7);
    timers.advance(100);
    debouncer.notify(7);
    timers.advance(100);
    debouncer.notify(7);
    debouncer.notify(7);
    timers.advance(2_000);
    assert.deepEqual(fired, [[7, 0], [7, 1_000]]);
  });

  it('fires again at once after a quiet window', () => {
    const { timers, fired, debouncer } = setup();
    debouncer.notify(7);
    timers.advance(1_500);
    debouncer.notify(7);
    assert.deepEqual(fired, [[7, 0], [7, 1_500]]);
  });

  it('keeps keys independent', () => {
    const { timers, fired, debouncer } = setup();
    debouncer.notify(1);
    debouncer.notify(2);
    debouncer.notify(1);
    timers.advance(1_000);
    assert.deepEqual(fired, [[1, 0], [2, 0], [1, 1_000]]);
  });

  it('drops the trailing call of a forgotten key', () => {
    const { timers, fired, debouncer } = setup();
    debouncer.notify(1);
    debouncer.notify(1);
    debouncer.forget(1);
    timers.advance(5_000);
    assert.deepEqual(fired, [[1, 0]]);
  });

  it('retain forgets the keys not kept: their trailing calls dropped, their next notice at once', () => {
    const { timers, fired, debouncer } = setup();
    debouncer.notify(1);
    debouncer.notify(1);
    debouncer.notify(2);
    debouncer.notify(2);
    debouncer.retain(new Set([2]));
    timers.advance(1_000);
    assert.deepEqual(fired, [[1, 0], [2, 0], [2, 1_000]]);
    debouncer.notify(1);
    assert.deepEqual(fired.at(-1), [1, 1_000]);
  });

  it('a clock stepped back ends the window: the next notice fires at once, not after the step', () => {
    const { timers, fired, debouncer } = setup();
    debouncer.notify(7);
    timers.stepClock(-3_600_000);
    timers.advance(100);
    debouncer.notify(7);
    timers.advance(2_000);
    assert.equal(fired.length, 2, `fired: ${JSON.stringify(fired)}`);
  });
});
