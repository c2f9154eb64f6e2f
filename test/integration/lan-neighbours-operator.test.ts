// The MAC pins' permanent neighbour entries against an operator's own static entry for the same
// address (real ip in a private network namespace). `neigh replace` took the operator's entry over
// (the kernel then lists it with pgw's protocol), and removing the pin deleted it: the operator's
// entry was gone. docs/SECURITY.md flow 19 says the operator's static entries are never touched.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parseMacAddress, parsePort } from '@pgw/domain';
import { LanNeighbours, PGW_NEIGH_PROTOCOL } from '../../services/agent/src/neighbours/lan-neighbours.js';
import { ShaperSandbox } from '../support/namespace-bins.js';

const OPERATOR_MAC = '02:00:00:00:0a:0a';
const PINNED_MAC = '02:00:00:00:0b:0b';

function policy(pins: Record<string, string>): GatewayPolicy {
  return {
    lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
    wan: { interface: parseInterfaceName('eth0') },
    dnsMode: 'drop',
    clients: Object.entries(pins).map(([ip, mac], i) => ({ mappingId: i + 1, proxyId: 1, ip: parseIpv4(ip), port: parsePort(20010 + i), blocked: null, mac: parseMacAddress(mac) })),
    strictOutput: null,
  };
}

describe('MAC pins beside an operator\'s static neighbour entry (real kernel, private namespace)', { timeout: 30_000 }, () => {
  let sandbox: ShaperSandbox;
  const entry = (ip: string) => (JSON.parse(sandbox.exec(['ip', '-j', 'neigh', 'show', ip, 'dev', 'ens19'])) as { lladdr?: string; protocol?: string | number; state?: string[] }[])[0];

  before(() => {
    sandbox = new ShaperSandbox('neigh-op');
    sandbox.exec(['ip', 'link', 'add', 'ens19', 'type', 'veth', 'peer', 'name', 'ens19p']);
    sandbox.exec(['ip', 'link', 'set', 'ens19', 'up']);
    sandbox.exec(['ip', 'neigh', 'add', '192.168.2.10', 'lladdr', OPERATOR_MAC, 'dev', 'ens19', 'nud', 'permanent']);
  });
  after(() => sandbox?.destroy());

  it('a pin on an address the operator set statically leaves that entry as it is, and removing the pin keeps it', async () => {
    const neighbours = new LanNeighbours(sandbox.bins.ip);
    await neighbours.sync(policy({ '192.168.2.10': PINNED_MAC, '192.168.2.11': PINNED_MAC }));
    assert.equal(entry('192.168.2.11')?.lladdr, PINNED_MAC, 'the pin of an address with no entry of the operator\'s is in force');
    assert.equal(String(entry('192.168.2.11')?.protocol), String(PGW_NEIGH_PROTOCOL));
    assert.equal(entry('192.168.2.10')?.lladdr, OPERATOR_MAC, 'the operator\'s entry was taken over');
    await neighbours.sync(policy({}));
    assert.equal(entry('192.168.2.11'), undefined, 'pgw\'s own entry goes with its pin');
    assert.equal(entry('192.168.2.10')?.lladdr, OPERATOR_MAC, 'the operator\'s entry went with the pin');
  });
});
