import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientAddresses, planTopology } from './topology.js';

describe('lab topology plan', () => {
  it('puts up to 244 clients beside the gateway from .10', () => {
    assert.deepEqual(clientAddresses(2), ['192.168.2.10', '192.168.2.11']);
    assert.equal(clientAddresses(244).at(-1), '192.168.2.253');
    const plan = planTopology('abc123', 244, ['socks5']);
    assert.equal(plan.wide, false);
    assert.equal(plan.gatewayLanIp, '192.168.2.1');
    assert.ok(plan.batches.gateway.includes('addr add 192.168.2.1/24 dev ens19'));
  });

  it('gives more clients the whole /24 as /32s behind a link-local gateway', () => {
    const plan = planTopology('abc123', 256, []);
    assert.equal(plan.wide, true);
    assert.deepEqual([plan.clients[0], plan.clients[255]], ['192.168.2.0', '192.168.2.255']);
    assert.ok(plan.batches.gateway.includes('addr add 169.254.2.1/32 dev ens19'));
    assert.ok(plan.batches.gateway.includes('route add 192.168.2.0/24 dev ens19'));
    assert.ok(plan.batches.lan.includes('addr add 192.168.2.255/32 dev gw0'));
    assert.ok(plan.batches.lan.includes('route add default via 169.254.2.1 dev gw0 onlink'));
  });

  it('gives each proxy its own WAN address and names namespaces by lab id', () => {
    const plan = planTopology('abc123', 4, ['socks5', 'socks5-auth', 'http', 'http-auth']);
    assert.deepEqual(plan.proxies.map((p) => `${p.ip}:${p.port}`), [
      '198.51.100.10:1080', '198.51.100.11:1080', '198.51.100.12:3128', '198.51.100.13:3128',
    ]);
    assert.deepEqual(plan.ns, { gateway: 'pgw-gw-abc123', lan: 'pgw-lan-abc123', wan: 'pgw-wan-abc123', lanHost: 'pgw-lanh-abc123' });
  });

  it('rejects bad input naming what is wrong', () => {
    assert.throws(() => clientAddresses(0), /clients must be an integer in 1..256, got 0/);
    assert.throws(() => clientAddresses(257), /got 257/);
    assert.throws(() => planTopology('xyz', 4, []), /lab id must be 6 hex/);
    assert.throws(() => planTopology('abc123', 4, ['socks4' as never]), /unknown proxy kind "socks4"/);
  });
});
