import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyProbe, type HealthState, INITIAL_STATE, type Thresholds } from './health-state.js';

const DEFAULTS: Thresholds = { failThreshold: 1, recoverThreshold: 2 };

function run(start: HealthState, probes: boolean[], thresholds = DEFAULTS): HealthState[] {
  const states: HealthState[] = [];
  let state = start;
  for (const ok of probes) {
    state = applyProbe(state, ok, thresholds);
    states.push(state);
  }
  return states;
}

describe('applyProbe', () => {
  it('takes unknown up on the first success and down on the first failure', () => {
    assert.deepEqual(applyProbe(INITIAL_STATE, true, DEFAULTS), { status: 'up', consecutiveSuccesses: 1, consecutiveFailures: 0 });
    assert.deepEqual(applyProbe(INITIAL_STATE, false, DEFAULTS), { status: 'down', consecutiveSuccesses: 0, consecutiveFailures: 1 });
  });

  it('keeps unknown from becoming up on failures even with a high failThreshold', () => {
    assert.equal(applyProbe(INITIAL_STATE, false, { failThreshold: 5, recoverThreshold: 2 }).status, 'down');
  });

  it('marks an up proxy down after one failure by default', () => {
    const up: HealthState = { status: 'up', consecutiveSuccesses: 7, consecutiveFailures: 0 };
    assert.deepEqual(applyProbe(up, false, DEFAULTS), { status: 'down', consecutiveSuccesses: 0, consecutiveFailures: 1 });
  });

  it('tolerates failThreshold - 1 failures and resets the count on a success', () => {
    const up: HealthState = { status: 'up', consecutiveSuccesses: 3, consecutiveFailures: 0 };
    const thresholds = { failThreshold: 3, recoverThreshold: 2 };
    assert.deepEqual(
      run(up, [false, false, true, false, false, false], thresholds).map((s) => s.status),
      ['up', 'up', 'up', 'up', 'up', 'down'],
    );
  });

  it('needs recoverThreshold consecutive successes to bring a down proxy up', () => {
    const down: HealthState = { status: 'down', consecutiveSuccesses: 0, consecutiveFailures: 4 };
    assert.deepEqual(run(down, [true, false, true, true]).map((s) => s.status), ['down', 'down', 'down', 'up']);
    assert.deepEqual(run(down, [true, true, true], { failThreshold: 1, recoverThreshold: 3 }).map((s) => s.status), ['down', 'down', 'up']);
  });

  it('counts consecutive results, resetting the other counter', () => {
    const states = run(INITIAL_STATE, [true, true, false, false, true]);
    assert.deepEqual(
      states.map((s) => [s.consecutiveSuccesses, s.consecutiveFailures]),
      [[1, 0], [2, 0], [0, 1], [0, 2], [1, 0]],
    );
  });
});
