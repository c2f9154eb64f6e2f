import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort, type PolicyClient } from '@pgw/domain';
import { clientsToDisconnect } from './disconnect-plan.js';

const c = (last: number, extra: Partial<PolicyClient> = {}): PolicyClient => ({
  mappingId: last,
  proxyId: 1,
  ip: parseIpv4(`192.168.2.${last}`),
  port: parsePort(20000 + last),
  blocked: null,
  ...extra,
});
const p = (clients: PolicyClient[]): GatewayPolicy => ({
  lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('eth0') },
  dnsMode: 'drop',
  clients,
  strictOutput: null,
});

describe('clientsToDisconnect', () => {
  it('ends every connection of clients that were effective and are now blocked or unmapped', () => {
    const before = p([c(10), c(11), c(12), c(15, { blocked: 'proxy_down' })]);
    const after = p([c(10), c(11, { blocked: 'proxy_down' }), c(15)]);
    assert.deepEqual(clientsToDisconnect(before, after), [
      { ip: '192.168.2.11', keepPort: null },
      { ip: '192.168.2.12', keepPort: null },
    ]);
  });

  it('re-ported, re-proxied or re-mapped clients keep only the connections on their port in force (made after the change)', () => {
    const before = p([c(13), c(14), c(16)]);
    const after = p([c(13, { port: parsePort(29999) }), c(14, { proxyId: 2 }), c(16, { mappingId: 99 })]);
    assert.deepEqual(clientsToDisconnect(before, after), [
      { ip: '192.168.2.13', keepPort: 29999 },
      { ip: '192.168.2.14', keepPort: 20014 },
      { ip: '192.168.2.16', keepPort: 20016 },
    ]);
  });

  it('leaves everyone alone when nothing changed, and an unblocked client has nothing to end', () => {
    assert.deepEqual(clientsToDisconnect(p([c(10)]), p([c(10)])), []);
    assert.deepEqual(clientsToDisconnect(p([c(10, { blocked: 'proxy_down' })]), p([c(10)])), []);
  });

  it('at first start ends the blocked clients only: effective ones keep their connections', () => {
    assert.deepEqual(clientsToDisconnect(null, p([c(10), c(11, { blocked: 'mapping_disabled' })])), [{ ip: '192.168.2.11', keepPort: null }]);
  });
});
