import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientNetworkKey } from './client-network.js';

test('an IPv6 address stands for its /56 (a home\'s prefix); an IPv4 one, mapped or not, for itself', () => {
  assert.equal(clientNetworkKey('2001:db8:1:2:ffff::9'), '2001:db8:1::/56');
  assert.equal(clientNetworkKey('2001:DB8:1:2ff::1'), '2001:db8:1:200::/56');
  assert.equal(clientNetworkKey('2001:db8:1:2aa::1'), '2001:db8:1:200::/56', 'another /64 of the same /56');
  assert.equal(clientNetworkKey('2001:db8:1:300::1'), '2001:db8:1:300::/56');
  assert.equal(clientNetworkKey('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(clientNetworkKey('10.0.0.1'), '10.0.0.1');
  assert.equal(clientNetworkKey('unknown'), 'unknown');
});
