import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginThrottle, type Reservation, type ThrottleLimits } from './login-throttle.js';

const limits = (overrides: Partial<ThrottleLimits> = {}): ThrottleLimits => ({ perAddressAndUser: 3, perAddress: 100, windowMs: 60_000, global: 1_000, globalWindowMs: 10_000, ...overrides });

function reserved(throttle: LoginThrottle, address: string, username: string): Reservation {
  const result = throttle.reserve(address, username);
  assert.ok('reservation' in result, `${address}/${username} was refused: retry after ${'retryAfterSeconds' in result ? result.retryAfterSeconds : '?'} s`);
  return result.reservation;
}

const retryAfter = (throttle: LoginThrottle, address: string, username: string) => {
  const result = throttle.reserve(address, username);
  return 'retryAfterSeconds' in result ? result.retryAfterSeconds : 0;
};

test('attempts are counted when reserved, before any check settles them: a burst cannot pass the limit', () => {
  const throttle = new LoginThrottle(limits(), () => 0);
  const inFlight = [0, 1, 2].map(() => reserved(throttle, '10.0.0.1', 'admin'));
  assert.equal(retryAfter(throttle, '10.0.0.1', 'Admin'), 60, 'the 4th concurrent attempt is refused while 3 are unsettled (username case does not matter)');
  for (const r of inFlight) r.failed();
  assert.equal(retryAfter(throttle, '10.0.0.1', 'admin'), 60);
});

test('failures from one address do not lock the user out from another', () => {
  const throttle = new LoginThrottle(limits(), () => 0);
  for (let i = 0; i < 3; i++) reserved(throttle, '10.0.0.1', 'admin').failed();
  assert.equal(retryAfter(throttle, '10.0.0.1', 'admin'), 60);
  reserved(throttle, '10.0.0.2', 'admin').succeeded();
  reserved(throttle, '10.0.0.1', 'bob').failed();
});

test('the window ends, and a success clears the address-and-username counter', () => {
  let now = 0;
  const throttle = new LoginThrottle(limits(), () => now);
  for (let i = 0; i < 3; i++) reserved(throttle, '10.0.0.1', 'admin').failed();
  now = 59_001;
  assert.equal(retryAfter(throttle, '10.0.0.1', 'admin'), 1, 'rounded up to whole seconds');
  now = 60_000;
  reserved(throttle, '10.0.0.1', 'admin').failed();
  reserved(throttle, '10.0.0.1', 'admin').failed();
  reserved(throttle, '10.0.0.1', 'admin').succeeded();
  for (let i = 0; i < 3; i++) reserved(throttle, '10.0.0.1', 'admin').failed();
  assert.ok(retryAfter(throttle, '10.0.0.1', 'admin') > 0);
});

test('an address spraying usernames is throttled as an address', () => {
  const throttle = new LoginThrottle(limits({ perAddress: 4 }), () => 0);
  for (let i = 0; i < 4; i++) reserved(throttle, '10.0.0.1', `user${i}`).failed();
  assert.equal(retryAfter(throttle, '10.0.0.1', 'fresh'), 60);
  reserved(throttle, '10.0.0.2', 'fresh').failed();
});

test('the global ceiling refuses everyone for its own short window, then lets attempts through again', () => {
  let now = 0;
  const throttle = new LoginThrottle(limits({ global: 5 }), () => now);
  for (let i = 0; i < 5; i++) reserved(throttle, `10.0.1.${i}`, 'admin').failed();
  assert.equal(retryAfter(throttle, '10.0.9.9', 'someone'), 10);
  now = 10_000;
  reserved(throttle, '10.0.9.9', 'someone').succeeded();
});

test('an abandoned attempt (no password checked) is refunded everywhere', () => {
  const throttle = new LoginThrottle(limits({ perAddressAndUser: 2, global: 2 }), () => 0);
  const first = reserved(throttle, '10.0.0.1', 'admin');
  const second = reserved(throttle, '10.0.0.1', 'admin');
  assert.ok(retryAfter(throttle, '10.0.0.9', 'other') > 0, 'global full while two are in flight');
  first.abandoned();
  second.abandoned();
  reserved(throttle, '10.0.0.1', 'admin').failed();
  reserved(throttle, '10.0.0.1', 'admin').failed();
  assert.ok(retryAfter(throttle, '10.0.0.1', 'admin') > 0, 'the two real failures count');
});

test('a reservation settled twice counts once', () => {
  const throttle = new LoginThrottle(limits(), () => 0);
  const first = reserved(throttle, '10.0.0.1', 'admin');
  reserved(throttle, '10.0.0.1', 'admin');
  reserved(throttle, '10.0.0.1', 'admin');
  first.abandoned();
  first.abandoned();
  first.succeeded();
  reserved(throttle, '10.0.0.1', 'admin');
  assert.equal(retryAfter(throttle, '10.0.0.1', 'admin'), 60, 'three in flight again: one refund, not two, and no success');
});

test('an IPv6 client is counted by its /56: the addresses and /64s of one home share its limit', () => {
  // A home is handed a /56 by its provider: counted per address or /64, it would rotate past the limit.
  const throttle = new LoginThrottle(limits({ perAddress: 2 }), () => 0);
  reserved(throttle, '2001:db8:1:2::1', 'alice').failed();
  reserved(throttle, '2001:db8:1:2:ffff::9', 'bob').failed();
  assert.equal(retryAfter(throttle, '2001:db8:1:fe:abcd::7', 'carol'), 60, 'an address of another /64 of the same /56 is refused');
  reserved(throttle, '2001:db8:1:100::1', 'carol').failed();
});

test('an IPv4 client is the same whether the socket spells it mapped or not', () => {
  const throttle = new LoginThrottle(limits(), () => 0);
  for (let i = 0; i < 3; i++) reserved(throttle, '::ffff:10.0.0.1', 'admin').failed();
  assert.equal(retryAfter(throttle, '10.0.0.1', 'admin'), 60);
  reserved(throttle, '10.0.0.2', 'admin').failed();
});

test('a known browser (device cookie) is counted apart from the storm: past a full global ceiling, every attempt counted, per device and per user', () => {
  let now = 0;
  const throttle = new LoginThrottle(limits({ global: 5, perAddressAndUser: 3 }), () => now);
  for (let i = 0; i < 5; i++) reserved(throttle, `10.0.1.${i}`, 'admin').failed();
  assert.equal(retryAfter(throttle, '10.0.9.9', 'admin'), 10, 'the storm filled the ceiling');
  const device = (id: string, username = 'admin') => {
    const result = throttle.reserveDevice(id, username);
    return 'reservation' in result ? result.reservation : result.retryAfterSeconds;
  };
  // Its own limit, successes counted too (new cookies at every login would otherwise be free lanes).
  for (let i = 0; i < 3; i++) (device('d1') as Reservation).succeeded();
  assert.equal(device('d1'), 60);
  // A user's devices together: twice a device's limit.
  for (let i = 0; i < 3; i++) (device('d2') as Reservation).failed();
  assert.equal(device('d3'), 60, 'six attempts of admin\'s devices in the window: the next device waits too');
  assert.equal(typeof device('d4', 'bob'), 'object', 'another user\'s devices have their own count');
  // A new ceiling window: the devices' attempts took none of its five places.
  now = 10_000;
  for (let i = 0; i < 5; i++) reserved(throttle, `10.0.2.${i}`, 'admin').failed();
  assert.equal(retryAfter(throttle, '10.0.9.9', 'admin'), 10);
});
