import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4Cidr } from '@pgw/domain';
import type { RouteEntry } from '../netlink/rtnetlink.js';
import { LAN_ROUTE_PROTOCOL, lanPrefixRouteCommands, RT_TABLE_MAIN } from './lan-prefix-route.js';

const route = (dst: string, protocol: number, type = 6): RouteEntry => ({ table: RT_TABLE_MAIN, type, dst, oif: null, protocol });
const LAN = parseIpv4Cidr('192.168.2.0/24');

describe('the LAN prefix backstop route', () => {
  it('is added at the last metric when missing, beside the connected route it never outranks', () => {
    assert.deepEqual(lanPrefixRouteCommands([route('192.168.2.0/24', 2, 1), route('0.0.0.0/0', 3, 1)], LAN), [`route add blackhole 192.168.2.0/24 metric 4294967295 protocol ${LAN_ROUTE_PROTOCOL}`]);
  });

  it('changes nothing when in place', () => {
    assert.deepEqual(lanPrefixRouteCommands([route('192.168.2.0/24', 2, 1), route('192.168.2.0/24', LAN_ROUTE_PROTOCOL)], LAN), []);
  });

  it('moves with the LAN prefix: the new one first, then the old one goes; routes of others stay', () => {
    assert.deepEqual(lanPrefixRouteCommands([route('10.0.0.0/8', LAN_ROUTE_PROTOCOL), route('10.9.0.0/16', 4)], LAN), [
      `route add blackhole 192.168.2.0/24 metric 4294967295 protocol ${LAN_ROUTE_PROTOCOL}`,
      `route del blackhole 10.0.0.0/8 protocol ${LAN_ROUTE_PROTOCOL}`,
    ]);
  });
});
