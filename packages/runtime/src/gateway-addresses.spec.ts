import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayAddresses } from './gateway-addresses.js';

describe('gatewayAddresses', () => {
  it("lists this host's addresses, loopback among them, sorted", () => {
    const addresses = gatewayAddresses();
    assert.ok(addresses.includes('127.0.0.1'), addresses.join(' '));
    assert.deepEqual(addresses, [...addresses].sort());
  });
});
