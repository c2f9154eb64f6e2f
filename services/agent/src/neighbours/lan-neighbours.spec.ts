import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GatewayPolicy, type MacAddress, parseInterfaceName, parseIpv4, parseIpv4Cidr, parseMacAddress, parsePort } from '@pgw/domain';
import { neighbourCommands, parseNeighbours } from './lan-neighbours.js';

const policy = (pins: Record<string, string | null>): GatewayPolicy => ({
  lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('eth0') },
  dnsMode: 'drop',
  clients: Object.entries(pins).map(([ip, mac], i) => ({ mappingId: i + 1, proxyId: 1, ip: parseIpv4(ip), port: parsePort(20000 + i), ...(mac ? { mac: parseMacAddress(mac) } : {}), blocked: null })),
  strictOutput: null,
});

describe('MAC-pin neighbour entries', () => {
  it('tells entries with pgw’s protocol number from the operator’s static entries', () => {
    const json = JSON.stringify([
      { dst: '192.168.2.10', dev: 'ens19', lladdr: '52:54:00:ab:cd:0f', state: ['PERMANENT'], protocol: '241' },
      { dst: '192.168.2.1', dev: 'ens19', lladdr: '52:54:00:00:00:01', state: ['PERMANENT'] },
    ]);
    assert.deepEqual(parseNeighbours(json), {
      ours: [{ ip: '192.168.2.10', dev: 'ens19', mac: '52:54:00:ab:cd:0f' }],
      theirs: [{ ip: '192.168.2.1', dev: 'ens19', mac: '52:54:00:00:00:01' }],
    });
  });

  it('pins no entry where the operator holds a permanent one for the address on the LAN (one on another device does not count)', () => {
    const theirs = [
      { ip: '192.168.2.10', dev: 'ens19', mac: '02:00:00:00:0a:0a' },
      { ip: '192.168.2.11', dev: 'ens20', mac: '02:00:00:00:0a:0b' },
    ];
    assert.deepEqual(neighbourCommands([], policy({ '192.168.2.10': '52:54:00:ab:cd:0f', '192.168.2.11': '52:54:00:ab:cd:11' }), theirs), [
      'neigh replace 192.168.2.11 lladdr 52:54:00:ab:cd:11 dev ens19 nud permanent protocol 241',
    ]);
  });

  it('adds a pin, leaves one in force alone, re-points a changed one and deletes one no longer pinned (deletes first)', () => {
    const current = [
      { ip: '192.168.2.10', dev: 'ens19', mac: '52:54:00:ab:cd:0f' },
      { ip: '192.168.2.11', dev: 'ens19', mac: '52:54:00:ab:cd:11' },
      { ip: '192.168.2.12', dev: 'ens19', mac: '52:54:00:ab:cd:12' },
    ];
    const next = policy({ '192.168.2.10': '52:54:00:ab:cd:0f', '192.168.2.11': '02:00:00:00:00:11', '192.168.2.12': null, '192.168.2.13': '52:54:00:ab:cd:13' });
    assert.deepEqual(neighbourCommands(current, next), [
      'neigh del 192.168.2.11 dev ens19',
      'neigh del 192.168.2.12 dev ens19',
      'neigh replace 192.168.2.11 lladdr 02:00:00:00:00:11 dev ens19 nud permanent protocol 241',
      'neigh replace 192.168.2.13 lladdr 52:54:00:ab:cd:13 dev ens19 nud permanent protocol 241',
    ]);
    assert.deepEqual(neighbourCommands(current.slice(0, 1), policy({ '192.168.2.10': '52:54:00:ab:cd:0f' })), []);
  });

  it('refuses a value forced past the types before it reaches ip', () => {
    const bad = policy({ '192.168.2.10': '52:54:00:ab:cd:0f' });
    const forced = { ...bad, clients: [{ ...bad.clients[0]!, mac: '52:54:00:ab:cd:0f\nneigh flush all' as MacAddress }] };
    assert.throws(() => neighbourCommands([], forced), /not a unicast MAC address/);
  });
});
