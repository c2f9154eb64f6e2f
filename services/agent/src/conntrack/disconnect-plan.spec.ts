import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePort } from '@pgw/domain';
import { gatewayPolicy, policyClient } from '../policy/policy-fixtures.js';
import { clientsToDisconnect } from './disconnect-plan.js';

const c = policyClient;
const p = gatewayPolicy;

describe('clientsToDisconnect', () => {
  it('ends the connections on the old port of clients still effective whose port changed, keeping those on the new one', () => {
    const before = p([c(10), c(13), c(14)]);
    const after = p([c(10), c(13, { port: parsePort(29999) }), c(14, { port: parsePort(29998), proxyId: 2 })]);
    assert.deepEqual(clientsToDisconnect(before, after), [
      { ip: '192.168.2.13', keepPort: 29999 },
      { ip: '192.168.2.14', keepPort: 29998 },
    ]);
  });

  it('leaves blocked and unmapped clients their entries (every packet of theirs is refused; the entry carries the forwarder\'s reset back), and a proxy change to the forwarder', () => {
    const before = p([c(11), c(12), c(14), c(16), c(15, { blocked: 'proxy_down' })]);
    const after = p([c(11, { blocked: 'proxy_down' }), c(14, { proxyId: 2 }), c(16, { mappingId: 99 }), c(15)]);
    assert.deepEqual(clientsToDisconnect(before, after), []);
  });

  it('leaves the entries of connections made in TPROXY mode: nothing binds them to the old port, and they carry the forwarder\'s reset back', () => {
    const before = { ...p([c(13)]), interceptMode: 'tproxy' as const };
    const after = { ...p([c(13, { port: parsePort(29999) })]), interceptMode: 'tproxy' as const };
    assert.deepEqual(clientsToDisconnect(before, after), []);
    // Made in DNAT mode, they still are DNAT-ed to the old port after a switch to TPROXY mode.
    assert.deepEqual(clientsToDisconnect({ ...before, interceptMode: 'dnat' }, after), [{ ip: '192.168.2.13', keepPort: 29999 }]);
  });

  it('leaves everyone alone when nothing changed, and at first start', () => {
    assert.deepEqual(clientsToDisconnect(p([c(10)]), p([c(10)])), []);
    assert.deepEqual(clientsToDisconnect(null, p([c(10), c(11, { blocked: 'mapping_disabled' })])), []);
  });
});
