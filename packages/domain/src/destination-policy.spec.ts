import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DestinationPolicy, networkListSchema, ProxyHostPolicy } from './destination-policy.js';

const GATEWAY = ['127.0.0.1', '::1', '192.168.2.1', 'fd00:2::1', 'fe80::1%ens19', '198.51.100.1'];
const policy = (privateDestinations: 'deny' | 'allow') => new DestinationPolicy({ lanCidr: '192.168.2.0/24', gatewayAddresses: GATEWAY, privateDestinations });
const deny = policy('deny');
const allow = policy('allow');

describe('DestinationPolicy', () => {
  it('relays to public addresses, IPv4 and IPv6, whatever the private-range setting', () => {
    for (const p of [deny, allow]) {
      for (const address of ['203.0.113.10', '8.8.8.8', '1.1.1.1', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '169.253.255.255', '169.255.0.0', '126.255.255.255', '128.0.0.0', '223.255.255.255', '2001:4860:4860::8888', '::ffff:8.8.8.8']) {
        assert.equal(p.refusal(address), null, address);
      }
    }
  });

  it('refuses loopback, including its IPv4-mapped and hexadecimal spellings', () => {
    for (const address of ['127.0.0.1', '127.0.0.0', '127.255.255.255', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:0001', '0x7f000001', '127.1']) {
      assert.equal(allow.refusal(address), 'destination_loopback', address);
    }
  });

  it('refuses link-local, the cloud metadata address among them', () => {
    for (const address of ['169.254.169.254', '169.254.0.0', '169.254.255.255', '::ffff:169.254.169.254', 'fe80::1', 'fe80::abcd%eth0', 'febf:ffff::1']) {
      assert.equal(allow.refusal(address), 'destination_link_local', address);
    }
    assert.equal(deny.refusal('fec0::1'), 'destination_private', 'fec0::/10 is site-local, not link-local');
  });

  it('refuses unspecified, multicast and broadcast', () => {
    for (const [address, reason] of [
      ['0.0.0.0', 'destination_unspecified'],
      ['0.1.2.3', 'destination_unspecified'],
      ['::', 'destination_unspecified'],
      ['::ffff:0.0.0.0', 'destination_unspecified'],
      ['224.0.0.1', 'destination_multicast'],
      ['239.255.255.250', 'destination_multicast'],
      ['ff02::1', 'destination_multicast'],
      ['255.255.255.255', 'destination_broadcast'],
      // Class E: reserved for future use, no host has such an address (some stacks route it).
      ['240.0.0.1', 'destination_reserved'],
      ['255.255.255.254', 'destination_reserved'],
      ['::ffff:250.1.2.3', 'destination_reserved'],
    ] as const) {
      assert.equal(allow.refusal(address), reason, address);
    }
  });

  it('the documentation ranges the lab WAN uses stay relayable; benchmarking and IETF protocol ranges are private (networks use them inside)', () => {
    for (const address of ['198.51.100.10', '203.0.113.10', '192.0.2.1']) assert.equal(deny.refusal(address), null, address);
    for (const address of ['198.18.0.1', '198.19.255.255', '192.0.0.8', '192.0.0.170']) {
      assert.equal(deny.refusal(address), 'destination_private', address);
      assert.equal(allow.refusal(address), null, address);
    }
  });

  it("refuses the gateway's own addresses, in any spelling, even where private ranges are allowed", () => {
    assert.equal(allow.refusal('198.51.100.1'), 'destination_gateway', 'the WAN address');
    assert.equal(allow.refusal('::ffff:198.51.100.1'), 'destination_gateway');
    assert.equal(allow.refusal('fd00:2::1'), 'destination_gateway', 'a ULA of the gateway');
    assert.equal(allow.refusal('fd00:2:0:0:0:0:0:1'), 'destination_gateway');
    assert.equal(allow.refusal('192.168.2.1'), 'destination_gateway', 'the LAN address is the gateway first');
    assert.equal(allow.refusal('198.51.100.2'), null, 'a neighbour on the WAN is not the gateway');
  });

  it('refuses every address of a range the gateway delivers locally as a whole (AnyIP), and ignores entries that are neither', () => {
    const anyIp = new DestinationPolicy({ lanCidr: '192.168.2.0/24', gatewayAddresses: ['10.9.0.0/16', 'fd79::/64', 'not-an-address', '10.0.0.0/40'], privateDestinations: 'allow' });
    for (const address of ['10.9.0.0', '10.9.255.255', '::ffff:10.9.3.4', 'fd79::1']) assert.equal(anyIp.refusal(address), 'destination_gateway', address);
    assert.equal(anyIp.refusal('10.10.0.1'), null);
  });

  it('refuses the LAN prefix from its network to its broadcast address, even where private ranges are allowed', () => {
    for (const address of ['192.168.2.0', '192.168.2.10', '192.168.2.255', '::ffff:192.168.2.20']) {
      assert.equal(allow.refusal(address), 'destination_lan', address);
    }
    assert.equal(allow.refusal('192.168.3.1'), null, 'outside the prefix');
    assert.equal(allow.refusal('192.168.1.255'), null);
  });

  it('private ranges (RFC 1918, CGNAT, ULA) follow the setting, and a mapping override beats it both ways', () => {
    const privates = ['10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.0.1', '192.168.255.255', '100.64.0.1', '100.127.255.255', 'fc00::1', 'fdff:ffff::1', '::ffff:10.1.2.3'];
    for (const address of privates) {
      assert.equal(deny.refusal(address), 'destination_private', address);
      assert.equal(deny.refusal(address, 'allow'), null, `${address} allowed by the mapping`);
      assert.equal(allow.refusal(address), null, address);
      assert.equal(allow.refusal(address, 'deny'), 'destination_private', `${address} denied by the mapping`);
    }
    assert.equal(deny.refusal('127.0.0.1', 'allow'), 'destination_loopback', 'the override is only about private ranges');
    assert.equal(deny.refusal('192.168.2.10', 'allow'), 'destination_lan');
  });

  it('refuses what is not an address (fail closed)', () => {
    for (const address of ['', 'localhost', 'example.com', '1.2.3.4.5', '::g', '256.0.0.1']) {
      assert.equal(allow.refusal(address), 'destination_invalid', JSON.stringify(address));
    }
  });

  it('follows a changed LAN prefix and gateway address set', () => {
    const other = new DestinationPolicy({ lanCidr: '10.20.0.0/19', gatewayAddresses: ['10.20.0.1', '203.0.113.77'], privateDestinations: 'allow' });
    assert.equal(other.refusal('10.20.31.255'), 'destination_lan');
    assert.equal(other.refusal('10.20.32.0'), null);
    assert.equal(other.refusal('203.0.113.77'), 'destination_gateway');
    assert.equal(other.refusal('192.168.2.1'), null);
  });
});

describe('ProxyHostPolicy', () => {
  const proxies = new ProxyHostPolicy({ lanCidr: '192.168.2.0/24' });

  it('refuses literal loopback, link-local, unspecified, multicast, broadcast and LAN hosts, and localhost names, naming the host', () => {
    for (const [host, reason] of [
      ['127.0.0.1', 'proxy_loopback'],
      ['127.1', 'proxy_loopback'],
      ['2130706433', 'proxy_loopback'],
      ['0x7f.0.0.1', 'proxy_loopback'],
      ['::1', 'proxy_loopback'],
      ['::ffff:127.0.0.1', 'proxy_loopback'],
      ['localhost', 'proxy_loopback'],
      ['LOCALHOST', 'proxy_loopback'],
      ['api.localhost', 'proxy_loopback'],
      ['169.254.169.254', 'proxy_link_local'],
      ['169.254.1.2', 'proxy_link_local'],
      ['fe80::1', 'proxy_link_local'],
      ['0.0.0.0', 'proxy_unspecified'],
      ['::', 'proxy_unspecified'],
      ['224.0.0.5', 'proxy_multicast'],
      ['255.255.255.255', 'proxy_broadcast'],
      ['192.168.2.50', 'proxy_lan'],
    ] as const) {
      const found = proxies.problem(host);
      assert.equal(found?.reason, reason, host);
      assert.ok(found.message.includes(host), found.message);
    }
  });

  it('accepts public and other private addresses and ordinary names', () => {
    for (const host of ['198.51.100.10', '10.0.0.5', '192.168.3.5', '100.64.1.1', 'fd12::1', 'proxy.example.com', 'localhost-proxy.example', 'mylocalhost']) {
      assert.equal(proxies.problem(host), null, host);
    }
  });

  it("an operator's allowed network lets a proxy there pass (e.g. a proxy client on the gateway)", () => {
    const allowed = new ProxyHostPolicy({ lanCidr: '192.168.2.0/24', allowedNetworks: ['127.63.0.0/16'] });
    assert.equal(allowed.problem('127.63.1.11'), null);
    assert.equal(allowed.problem('127.0.0.1')?.reason, 'proxy_loopback');
    assert.equal(allowed.problem('localhost')?.reason, 'proxy_loopback', 'names are not looked up against the list');
  });

  it("refuses the gateway's own addresses in any spelling where they are known; the LAN address stays named as the LAN", () => {
    const onGateway = new ProxyHostPolicy({ lanCidr: '192.168.2.0/24', gatewayAddresses: ['192.168.2.1', '203.0.113.2', '2001:db8::2'] });
    for (const host of ['203.0.113.2', '::ffff:203.0.113.2', '2001:db8:0:0:0:0:0:2', '2001:DB8::2']) assert.equal(onGateway.problem(host)?.reason, 'proxy_gateway', host);
    assert.match(onGateway.problem('203.0.113.2')!.message, /gateway's own addresses/);
    assert.equal(onGateway.problem('192.168.2.1')?.reason, 'proxy_lan');
    assert.equal(onGateway.problem('203.0.113.3'), null);
    assert.equal(proxies.problem('203.0.113.2'), null, 'without the addresses (the api) only the fixed ranges are judged');
    const allowed = new ProxyHostPolicy({ lanCidr: '192.168.2.0/24', gatewayAddresses: ['203.0.113.2'], allowedNetworks: ['203.0.113.2/32'] });
    assert.equal(allowed.problem('203.0.113.2'), null, "the operator's allowed network wins");
  });

  it('refuses every address of a range the gateway delivers locally as a whole (AnyIP), in any spelling', () => {
    const anyIp = new ProxyHostPolicy({ lanCidr: '192.168.2.0/24', gatewayAddresses: ['203.0.113.2', '203.0.113.128/25', '2001:db8:9::/64'] });
    for (const host of ['203.0.113.200', '::ffff:203.0.113.129', '2001:db8:9::77', '2001:DB8:9:0:ffff::1']) assert.equal(anyIp.problem(host)?.reason, 'proxy_gateway', host);
    assert.equal(anyIp.problem('203.0.113.127'), null, 'just below the range');
    assert.equal(anyIp.problem('2001:db8:a::1'), null);
  });
});

describe('networkListSchema', () => {
  it('parses a comma-separated list of networks and names what is wrong', () => {
    assert.deepEqual(networkListSchema.parse(' 127.63.0.0/16, fd00::/8 ,'), ['127.63.0.0/16', 'fd00::/8']);
    assert.deepEqual(networkListSchema.parse(''), []);
    const bad = networkListSchema.safeParse('127.0.0.1');
    assert.equal(bad.success, false);
    assert.match(bad.error!.issues[0]!.message, /list of networks/);
  });
});
