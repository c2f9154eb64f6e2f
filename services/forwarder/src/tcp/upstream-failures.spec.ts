import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UpstreamFailureTracker } from './upstream-failures.js';

describe('UpstreamFailureTracker', () => {
  it('asks for a notice at the threshold of consecutive failures', () => {
    const tracker = new UpstreamFailureTracker(3, 5_000);
    assert.equal(tracker.failure(7, 'connect_refused', 0), null);
    assert.equal(tracker.failure(7, 'connect_refused', 1), null);
    assert.deepEqual(tracker.failure(7, 'connect_timeout', 2), { proxyId: 7, reason: 'connect_timeout', failures: 3 });
  });

  it('debounces further notices per proxy, then notices again', () => {
    const tracker = new UpstreamFailureTracker(1, 5_000);
    assert.notEqual(tracker.failure(1, 'closed', 0), null);
    assert.equal(tracker.failure(1, 'closed', 4_999), null);
    assert.notEqual(tracker.failure(2, 'closed', 4_999), null, 'another proxy has its own debounce');
    assert.deepEqual(tracker.failure(1, 'closed', 5_000), { proxyId: 1, reason: 'closed', failures: 3 });
  });

  it('a success resets the consecutive count', () => {
    const tracker = new UpstreamFailureTracker(2, 0);
    tracker.failure(1, 'auth_failed', 0);
    tracker.success(1);
    assert.equal(tracker.failure(1, 'auth_failed', 1), null);
    assert.notEqual(tracker.failure(1, 'auth_failed', 2), null);
  });

  it('a success also restarts the notice window: a proxy that recovers and fails again is reported at once', () => {
    const tracker = new UpstreamFailureTracker(2, 5_000);
    tracker.failure(1, 'connect_refused', 0);
    assert.notEqual(tracker.failure(1, 'connect_refused', 10), null, 'first streak reported');
    tracker.success(1);
    assert.equal(tracker.failure(1, 'connect_refused', 1_000), null, 'below the threshold again');
    assert.deepEqual(tracker.failure(1, 'connect_refused', 1_010), { proxyId: 1, reason: 'connect_refused', failures: 2 }, 'within 5 s of the last notice');
  });

  it('ignores failures that are not the proxy\'s fault', () => {
    const tracker = new UpstreamFailureTracker(1, 0);
    assert.equal(tracker.failure(1, 'target_unreachable', 0), null);
    assert.equal(tracker.failure(1, 'aborted', 0), null);
    assert.equal(tracker.failure(1, 'invalid_request', 0), null);
    assert.notEqual(tracker.failure(1, 'proxy_refused', 0), null);
  });

  it('forgets proxies no longer in use', () => {
    const tracker = new UpstreamFailureTracker(2, 0);
    tracker.failure(1, 'closed', 0);
    tracker.retain(new Set([2]));
    assert.equal(tracker.failure(1, 'closed', 1), null, 'count started over');
  });
});
