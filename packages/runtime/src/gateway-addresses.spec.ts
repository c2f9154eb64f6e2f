import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayAddressReader, gatewayAddresses, ipv6Addresses, localIpv4 } from './gateway-addresses.js';

const FIB_TRIE = `Id 100:
  |-- 0.0.0.0
     /0 host LOCAL
Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 127.0.0.0
        /8 host LOCAL
     |-- 198.51.100.1
        /32 host LOCAL
     |-- 10.9.0.0
        /16 host LOCAL
`;

const IF_INET6 = `fd000000000000000000000000000002 04 40 00 82     eth0
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
`;

describe('gatewayAddresses', () => {
  it("lists this host's addresses, loopback among them, sorted", () => {
    const addresses = gatewayAddresses();
    assert.ok(addresses.includes('127.0.0.1'), addresses.join(' '));
    assert.deepEqual(addresses, [...addresses].sort());
  });

  it("takes the local table's routes, a /32 as its address and a range as its network; not loopback's range, a broadcast, a route, nor another table's local route", () => {
    assert.deepEqual(localIpv4(FIB_TRIE).sort(), ['10.9.0.0/16', '198.51.100.1']);
    assert.deepEqual(localIpv4(''), []);
  });

  it('takes every if_inet6 address, as inet_ntop writes it', () => {
    assert.deepEqual(ipv6Addresses(IF_INET6), ['fd00::2', '::1', 'fe80::fc:ff:fe00:1']);
    assert.deepEqual(ipv6Addresses(''), []);
  });
});

describe('GatewayAddressReader', () => {
  it('keeps the addresses read last where a read fails, tells once per spell, throws only before a first read', () => {
    let next: string[] | Error = new Error('EMFILE');
    const told: string[] = [];
    const reader = new GatewayAddressReader((error) => told.push(error.message), () => {
      if (next instanceof Error) throw next;
      return next;
    });
    assert.throws(() => reader.current(), /EMFILE/);
    next = ['192.0.2.1'];
    assert.deepEqual(reader.current(), ['192.0.2.1']);
    next = new Error('EMFILE');
    assert.deepEqual(reader.current(), ['192.0.2.1']);
    assert.deepEqual(reader.current(), ['192.0.2.1']);
    assert.deepEqual(told, ['EMFILE'], 'once for the spell');
    next = ['192.0.2.1', '192.0.2.2'];
    assert.deepEqual(reader.current(), ['192.0.2.1', '192.0.2.2']);
    next = new Error('ENFILE');
    reader.current();
    assert.deepEqual(told, ['EMFILE', 'ENFILE'], 'a new spell is told again');
  });
});
