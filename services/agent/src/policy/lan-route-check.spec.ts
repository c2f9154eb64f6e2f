import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Ipv4Cidr } from '@pgw/domain';
import { lanCarriers, lanRouteRefusal as refusalFor } from './lan-route-check.js';
import { parseLinkRoutes } from './proc-net.js';

const route = (iface: string, network: string, prefixLength: number) => ({ iface, network, prefixLength });
const lanRouteRefusal = (lanInterface: string, lanCidr: string, routes: Parameters<typeof refusalFor>[2]) => refusalFor(lanInterface, lanCidr as Ipv4Cidr, routes);

describe('lanRouteRefusal', () => {
  it('takes a LAN interface that holds the LAN prefix, or a part of it, or with no link route into the LAN at all', () => {
    assert.equal(lanRouteRefusal('ens19', '192.168.2.0/24', [route('eth0', '203.0.113.0', 24), route('ens19', '192.168.2.0', 24)]), null);
    assert.equal(lanRouteRefusal('ens19', '10.0.0.0/8', [route('ens19', '10.1.0.0', 16), route('ens20', '10.2.0.0', 16)]), null);
    assert.equal(lanRouteRefusal('ens19', '192.168.2.0/24', [route('eth0', '203.0.113.0', 24)]), null, 'no address on the LAN yet: nothing to tell');
  });

  it('refuses one whose LAN the kernel routes by other interfaces only, naming them', () => {
    assert.equal(
      lanRouteRefusal('ens19', '192.168.2.0/24', [route('eth0', '203.0.113.0', 24), route('br-lan', '192.168.2.0', 24)]),
      'lanInterface "ens19" does not carry the LAN 192.168.2.0/24: the kernel routes it by br-lan (a bridge, bond or VLAN over ens19, or another interface); set lanInterface to that one',
    );
    assert.match(lanRouteRefusal('ens19', '192.168.0.0/16', [route('ens19.20', '192.168.0.0', 16), route('ens19.10', '192.168.0.0', 16)]) ?? '', /routes it by ens19\.10, ens19\.20 /);
    assert.match(lanRouteRefusal('ens19', '192.168.2.0/24', [route('ens20', '192.168.0.0', 16)]) ?? '', /routes it by ens20 /, 'a wider route holding the LAN');
  });

  it('takes it while only parts of the LAN are elsewhere, or its carrier is a blackhole: a wide LAN beside docker0, a boot before the address', () => {
    assert.equal(lanRouteRefusal('ens19', '172.16.0.0/12', [route('docker0', '172.17.0.0', 16)]), null);
    assert.equal(lanRouteRefusal('ens19', '192.168.0.0/16', [route('ens19.20', '192.168.20.0', 24), route('ens19.10', '192.168.10.0', 24)]), null);
    assert.equal(lanRouteRefusal('ens19', '192.168.2.0/24', [route('*', '192.168.2.0', 24)]), null);
  });
});

describe('parseLinkRoutes', () => {
  it('reads the routes without a gateway of /proc/net/route, default routes left out', () => {
    const text = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t0171A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'eth0\t007100CB\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'br-lan\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'ens20\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0',
      '',
    ].join('\n');
    assert.deepEqual(parseLinkRoutes(text), [
      { iface: 'eth0', network: '203.0.113.0', prefixLength: 24 },
      { iface: 'br-lan', network: '192.168.2.0', prefixLength: 24 },
      { iface: 'ens20', network: '10.0.0.0', prefixLength: 8 },
    ]);
  });
});

describe('lanCarriers', () => {
  const carriers = (lanInterface: string, lanCidr: string, routes: Parameters<typeof refusalFor>[2]) => lanCarriers(lanInterface, lanCidr as Ipv4Cidr, routes);
  it('names the interfaces holding the whole LAN in its interface\'s place, and none beside a part of a wide LAN', () => {
    assert.deepEqual(carriers('ens19', '192.168.2.0/24', [route('eth0', '203.0.113.0', 24), route('br-lan', '192.168.2.0', 24)]), ['br-lan']);
    assert.deepEqual(carriers('ens19', '192.168.2.0/24', [route('ens19', '192.168.2.0', 24), route('br-lan', '192.168.2.0', 24)]), [], 'the LAN interface carries it');
    assert.deepEqual(carriers('ens19', '172.16.0.0/12', [route('ens19', '172.16.0.0', 16), route('docker0', '172.17.0.0', 16)]), [], 'docker0 holds a part only');
    assert.deepEqual(carriers('ens19', '172.16.0.0/12', [route('docker0', '172.17.0.0', 16)]), [], 'a part proves nothing');
  });
});
