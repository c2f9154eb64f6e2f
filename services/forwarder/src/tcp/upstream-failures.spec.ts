import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UpstreamFailureTracker } from './upstream-failures.js';

describe('UpstreamFailureTracker', () => {
  it('asks for a notice from the threshold of consecutive failures on, telling the streak as it stands', () => {
    const tracker = new UpstreamFailureTracker(3);
    assert.equal(tracker.failure(7, 'connect_refused'), false);
    assert.equal(tracker.failure(7, 'connect_refused'), false);
    assert.equal(tracker.notice(7), null, 'below the threshold: nothing to tell');
    assert.equal(tracker.failure(7, 'connect_timeout'), true);
    assert.deepEqual(tracker.notice(7), { proxyId: 7, reason: 'connect_timeout', failures: 3 });
    assert.equal(tracker.failure(7, 'closed'), true);
    assert.deepEqual(tracker.notice(7), { proxyId: 7, reason: 'closed', failures: 4 }, 'a notice sent later tells the failures since');
  });

  it('a success ends the streak: no notice for it, and the count starts over', () => {
    const tracker = new UpstreamFailureTracker(2);
    tracker.failure(1, 'auth_failed');
    tracker.failure(1, 'auth_failed');
    tracker.success(1);
    assert.equal(tracker.notice(1), null, 'a notice due later finds the proxy recovered');
    assert.equal(tracker.failure(1, 'auth_failed'), false);
    assert.equal(tracker.failure(1, 'auth_failed'), true);
  });

  it('keeps proxies apart', () => {
    const tracker = new UpstreamFailureTracker(1);
    assert.equal(tracker.failure(1, 'closed'), true);
    assert.equal(tracker.notice(2), null);
    assert.equal(tracker.failure(2, 'connect_refused'), true);
    assert.deepEqual(tracker.notice(2), { proxyId: 2, reason: 'connect_refused', failures: 1 });
  });

  it('ignores failures that are not the proxy\'s fault', () => {
    const tracker = new UpstreamFailureTracker(1);
    assert.equal(tracker.failure(1, 'target_unreachable'), false);
    assert.equal(tracker.failure(1, 'target_refused'), false);
    assert.equal(tracker.failure(1, 'aborted'), false);
    assert.equal(tracker.failure(1, 'invalid_request'), false);
    assert.equal(tracker.notice(1), null);
    assert.equal(tracker.failure(1, 'proxy_refused'), true);
  });

  it('forgets proxies no longer in use', () => {
    const tracker = new UpstreamFailureTracker(2);
    tracker.failure(1, 'closed');
    tracker.retain(new Set([2]));
    assert.equal(tracker.failure(1, 'closed'), false, 'count started over');
  });
});
