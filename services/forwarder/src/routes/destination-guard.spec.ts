import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Settings } from '@pgw/domain';
import { DestinationGuard } from './destination-guard.js';

const settings = (lanCidr: string, privateDestinations: 'allow' | 'deny') => ({ lanCidr: lanCidr as Settings['lanCidr'], privateDestinations });

describe('DestinationGuard answers (kept until the policy changes)', () => {
  it('refuses everything until the first settings arrive (fail closed)', () => {
    assert.equal(new DestinationGuard([], () => []).refusal('203.0.113.10', null), 'destination_lan');
  });

  it('keeps an answer per override, and answers anew after the settings or the gateway\'s addresses change', async () => {
    let addresses = ['192.168.2.1'];
    const guard = new DestinationGuard([], () => addresses);
    guard.configure(settings('192.168.2.0/24', 'deny'));
    assert.equal(guard.refusal('10.1.2.3', null), 'destination_private');
    assert.equal(guard.refusal('10.1.2.3', 'allow'), null, 'the mapping\'s override is its own answer');
    assert.equal(guard.refusal('10.1.2.3', null), 'destination_private', 'the cached default is not the override\'s');
    assert.equal(guard.refusal('203.0.113.10', null), null);
    guard.configure(settings('192.168.2.0/24', 'allow'));
    assert.equal(guard.refusal('10.1.2.3', null), null, 'a settings change forgets the answers');
    addresses = ['192.168.2.1', '203.0.113.10'];
    assert.equal(guard.refusal('203.0.113.10', null), null, 'unchanged until the addresses are read again');
    const stop = guard.watch(5);
    try {
      for (let i = 0; i < 100 && guard.gatewayAddresses.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    } finally {
      stop();
    }
    assert.equal(guard.refusal('203.0.113.10', null), 'destination_gateway', 'the address read by watch() forgets the answers');
  });
});
