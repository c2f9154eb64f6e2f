import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrContains, interfaceNameSchema, ipv4CidrSchema, ipv4Schema, isLinkLocalIpv4, isUnicastIpv4, lanNetworkProblem, networkEndOf, parseIpv4, parseIpv4Cidr, portSchema } from './net.js';

describe('ipv4Schema', () => {
  it('accepts canonical dotted quads', () => {
    for (const ip of ['0.0.0.0', '192.168.2.10', '255.255.255.255']) assert.equal(ipv4Schema.parse(ip), ip);
  });
  it('rejects anything that could be read two ways or carry syntax', () => {
    for (const bad of ['192.168.2', '192.168.2.256', '010.0.0.1', ' 1.2.3.4', '1.2.3.4;', '1.2.3.4 }', '::1', '1.2.3.4/32', '']) {
      assert.equal(ipv4Schema.safeParse(bad).success, false, bad);
    }
  });
});

describe('portSchema', () => {
  it('accepts 1..65535 and rejects the rest', () => {
    assert.equal(portSchema.parse(1), 1);
    assert.equal(portSchema.parse(65535), 65535);
    for (const bad of [0, 65536, 1.5, -1, Number.NaN]) assert.equal(portSchema.safeParse(bad).success, false, String(bad));
  });
});

describe('interfaceNameSchema', () => {
  it('accepts Linux interface names', () => {
    for (const name of ['ens19', 'eth0', 'br-lan.10', 'wg_0']) assert.equal(interfaceNameSchema.parse(name), name);
  });
  it('rejects the sysctl pseudo-interfaces and loopback, saying why', () => {
    assert.match(interfaceNameSchema.safeParse('lo').error?.issues[0]?.message ?? '', /loopback/);
    for (const name of ['all', 'default']) assert.match(interfaceNameSchema.safeParse(name).error?.issues[0]?.message ?? '', /every interface in sysctl/, name);
  });
  it('rejects names nft would need quoted, and names over 15 characters', () => {
    for (const bad of ['eth0"', 'eth0;drop', 'a b', 'x}', '', 'abcdefghijklmnop', '-eth0', 'eth0\n']) {
      assert.equal(interfaceNameSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });
});

describe('ipv4CidrSchema and cidrContains', () => {
  it('requires zero host bits', () => {
    assert.equal(ipv4CidrSchema.parse('192.168.2.0/24'), '192.168.2.0/24');
    assert.equal(ipv4CidrSchema.safeParse('192.168.2.1/24').success, false);
    assert.equal(ipv4CidrSchema.safeParse('192.168.2.0/33').success, false);
    assert.equal(ipv4CidrSchema.safeParse('192.168.2.0').success, false);
  });
  it('tells inside from outside', () => {
    const lan = parseIpv4Cidr('192.168.2.0/24');
    assert.equal(cidrContains(lan, parseIpv4('192.168.2.0')), true);
    assert.equal(cidrContains(lan, parseIpv4('192.168.2.255')), true);
    assert.equal(cidrContains(lan, parseIpv4('192.168.3.1')), false);
    assert.equal(cidrContains(parseIpv4Cidr('0.0.0.0/0'), parseIpv4('203.0.113.7')), true);
  });
});

describe('isUnicastIpv4', () => {
  it('tells the addresses a host can have from 0/8, loopback, multicast, reserved and broadcast', () => {
    for (const ip of ['1.0.0.1', '10.0.0.1', '126.255.255.255', '128.0.0.1', '169.254.0.1', '198.51.100.2', '223.255.255.255']) assert.equal(isUnicastIpv4(ip), true, ip);
    for (const ip of ['0.0.0.0', '0.1.2.3', '127.0.0.1', '224.0.0.18', '239.1.1.1', '240.0.0.1', '255.255.255.255']) assert.equal(isUnicastIpv4(ip), false, ip);
  });
});

describe('lanNetworkProblem', () => {
  it('refuses a network no LAN can be: too wide or too narrow, loopback, link-local, multicast or reserved space', () => {
    for (const cidr of ['0.0.0.0/0', '10.0.0.0/7', '127.0.0.0/8', '169.254.0.0/16', '169.0.0.0/8', '224.0.0.0/4', '240.0.0.0/8', '0.0.0.0/8', '192.168.2.0/31', '192.168.2.1/32']) {
      assert.notEqual(lanNetworkProblem(parseIpv4Cidr(cidr)), null, cidr);
    }
    assert.match(lanNetworkProblem(parseIpv4Cidr('127.0.0.0/8'))!, /^lanCidr 127\.0\.0\.0\/8 is in loopback space/);
    for (const cidr of ['10.0.0.0/8', '192.168.2.0/30', '100.64.0.0/10', '203.0.113.0/24']) assert.equal(lanNetworkProblem(parseIpv4Cidr(cidr)), null, cidr);
  });
});

describe('networkEndOf', () => {
  it('names the network and broadcast address of a /8 to /30, null for a host and for /31 and /32', () => {
    const end = (cidr: string, ip: string) => networkEndOf(parseIpv4Cidr(cidr), parseIpv4(ip));
    assert.equal(end('192.168.2.0/24', '192.168.2.0'), 'network');
    assert.equal(end('192.168.2.0/24', '192.168.2.255'), 'broadcast');
    assert.equal(end('192.168.2.0/24', '192.168.2.1'), null);
    assert.equal(end('10.0.0.0/8', '10.255.255.255'), 'broadcast');
    assert.equal(end('192.168.2.4/30', '192.168.2.7'), 'broadcast');
    assert.equal(end('192.168.2.4/30', '192.168.2.6'), null);
    assert.equal(end('255.255.255.0/24', '255.255.255.255'), 'broadcast', 'no sign trouble at the top');
    assert.equal(end('192.168.2.4/31', '192.168.2.4'), null);
  });
});

describe('isLinkLocalIpv4', () => {
  it('holds for 169.254.0.0/16 only', () => {
    for (const ip of ['169.254.0.0', '169.254.169.254', '169.254.255.255']) assert.equal(isLinkLocalIpv4(ip), true, ip);
    for (const ip of ['169.253.255.255', '169.255.0.0', '192.168.2.1']) assert.equal(isLinkLocalIpv4(ip), false, ip);
  });
});
