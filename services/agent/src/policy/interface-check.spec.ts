import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interfaceRefusal } from './interface-check.js';

const PRESENT = new Set(['lo', 'ens19', 'eth0']);

describe('interfaceRefusal', () => {
  it('accepts an interface of the namespace', () => {
    assert.equal(interfaceRefusal('lanInterface', 'ens19', PRESENT), null);
  });

  it('refuses the sysctl pseudo-interfaces and loopback', () => {
    assert.equal(interfaceRefusal('lanInterface', 'lo', PRESENT), 'lanInterface "lo" is the loopback interface');
    assert.equal(interfaceRefusal('lanInterface', 'all', new Set([...PRESENT, 'all'])), 'lanInterface "all" is not an interface (it names every interface in sysctl)');
    assert.equal(interfaceRefusal('wanInterface', 'default', PRESENT), 'wanInterface "default" is not an interface (it names every interface in sysctl)');
  });

  it('refuses pgw\'s own device (the IFB its upload shaping redirects to), present or not', () => {
    for (const present of [PRESENT, new Set([...PRESENT, 'pgw-ifb0'])]) {
      assert.equal(interfaceRefusal('lanInterface', 'pgw-ifb0', present), 'lanInterface "pgw-ifb0" is pgw\'s own shaping device, not the LAN or the uplink');
    }
  });

  it('refuses a name that does not exist in the gateway namespace', () => {
    assert.equal(interfaceRefusal('lanInterface', 'ens20', PRESENT), 'lanInterface "ens20" does not exist on this gateway');
  });
});
