import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginThrottle } from './login-throttle.js';

test('throttles a username after its limit, from any IP, until the window ends', () => {
  let now = 0;
  const throttle = new LoginThrottle({ perIp: 100, perUsername: 3, windowMs: 60_000 }, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(throttle.retryAfterSeconds(`10.0.0.${i}`, 'Admin'), 0);
    throttle.recordFailure(`10.0.0.${i}`, 'Admin');
  }
  assert.equal(throttle.retryAfterSeconds('10.0.0.99', 'admin'), 60);
  assert.equal(throttle.retryAfterSeconds('10.0.0.99', 'other'), 0);
  now = 60_000;
  assert.equal(throttle.retryAfterSeconds('10.0.0.99', 'admin'), 0);
});

test('throttles an IP spraying many usernames; a success clears only the username', () => {
  const now = 0;
  const throttle = new LoginThrottle({ perIp: 4, perUsername: 2, windowMs: 1_000 }, () => now);
  for (let i = 0; i < 4; i++) throttle.recordFailure('10.0.0.1', `user${i}`);
  assert.equal(throttle.retryAfterSeconds('10.0.0.1', 'fresh'), 1);
  assert.equal(throttle.retryAfterSeconds('10.0.0.2', 'fresh'), 0);
  throttle.recordFailure('10.0.0.2', 'bob');
  throttle.recordFailure('10.0.0.2', 'bob');
  assert.ok(throttle.retryAfterSeconds('10.0.0.3', 'bob') > 0);
  throttle.recordSuccess('bob');
  assert.equal(throttle.retryAfterSeconds('10.0.0.3', 'bob'), 0);
});
