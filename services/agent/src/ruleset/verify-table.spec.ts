import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parseMacAddress, parsePort } from '@pgw/domain';
import { renderRuleset } from './render-ruleset.js';
import { parseTableListing, verifyChainNames, verifyTable } from './verify-table.js';

const policy: GatewayPolicy = {
  lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('eth0') },
  dnsMode: 'drop',
  clients: [
    { mappingId: 1, proxyId: 1, ip: parseIpv4('192.168.2.10'), port: parsePort(20000), mac: parseMacAddress('52:54:00:ab:cd:0f'), blocked: null },
    { mappingId: 2, proxyId: 1, ip: parseIpv4('192.168.2.11'), port: parsePort(20001), blocked: 'proxy_down' },
  ],
  strictOutput: { allowedUids: [999], upstreams: [{ ip: parseIpv4('198.51.100.10'), port: parsePort(1080) }] },
};

/** nft 1.0.6's JSON for the sets and chains of a table, the shapes `nft -j list table` prints. */
function nftJson(setElems: Record<string, unknown[]>, chains: Record<string, number>, edit: { rule?: [string, number, unknown[]]; policy?: [string, string] } = {}): string {
  const items: unknown[] = [{ metainfo: { version: '1.0.6' } }, { table: { family: 'inet', name: 'pgw', handle: 1 } }];
  for (const [name, elem] of Object.entries(setElems)) {
    const base = { family: 'inet', name, table: 'pgw', handle: 2, ...(elem.length ? { elem } : {}) };
    items.push(name === 'client_port' ? { map: { ...base, type: 'ipv4_addr', map: 'inet_service' } } : { set: { ...base, type: 'ipv4_addr' } });
  }
  for (const [name, rules] of Object.entries(chains)) {
    items.push({ chain: { family: 'inet', table: 'pgw', name, handle: 3, ...(edit.policy?.[0] === name ? { policy: edit.policy[1] } : {}) } });
    for (let i = 0; i < rules; i++) {
      const expr = edit.rule?.[0] === name && edit.rule[1] === i ? edit.rule[2] : [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: `rule${i}` } }, { accept: null }];
      items.push({ rule: { family: 'inet', table: 'pgw', chain: name, handle: 10 + i, expr } });
    }
  }
  items.push({ set: { family: 'inet', name: 'other', table: 'not_ours', type: 'ipv4_addr', elem: ['1.2.3.4'] } });
  return JSON.stringify({ nftables: items });
}

const rendered = renderRuleset(policy);
const goodElems = {
  lan_mapped: ['192.168.2.10'],
  lan_blocked: ['192.168.2.11'],
  client_port: [['192.168.2.10', 20000]],
  client_ports: [{ concat: ['192.168.2.10', 20000] }],
  pinned_clients: ['192.168.2.10'],
  client_macs: [{ concat: ['192.168.2.10', '52:54:00:ab:cd:0f'] }],
  upstreams: [{ concat: ['198.51.100.10', 1080] }],
  strict_uids: [999],
};

describe('verifyTable', () => {
  it('accepts the kernel holding exactly the rendered sets and chains', () => {
    const listing = parseTableListing(nftJson(goodElems, rendered.chains));
    assert.deepEqual(listing.elements.get('client_port'), ['192.168.2.10 : 20000']);
    assert.deepEqual(listing.elements.get('client_ports'), ['192.168.2.10 . 20000']);
    assert.equal(listing.elements.get('other'), undefined);
    assert.deepEqual(listing.elements.get('client_macs'), ['192.168.2.10 . 52:54:00:ab:cd:0f']);
    assert.deepEqual(verifyTable(rendered, listing), []);
  });

  it('finds a pinned MAC changed by hand', () => {
    const altered = { ...goodElems, client_macs: [{ concat: ['192.168.2.10', '02:00:00:00:00:01'] }] };
    assert.deepEqual(verifyTable(rendered, parseTableListing(nftJson(altered, rendered.chains))), ['set client_macs holds other elements than expected']);
  });

  it('reads element objects with attributes ({elem: {val}})', () => {
    const listing = parseTableListing(nftJson({ ...goodElems, lan_mapped: [{ elem: { val: '192.168.2.10', timeout: 5 } }] }, rendered.chains));
    assert.deepEqual(verifyTable(rendered, listing), []);
  });

  it('reports a missing element, a foreign element, a missing chain and an extra rule', () => {
    const listing = parseTableListing(nftJson({ ...goodElems, lan_blocked: [], client_ports: [{ concat: ['192.168.2.99', 20000] }] }, { ...rendered.chains, forward: 1, extra: 0, input: undefined as never }));
    const problems = verifyTable(rendered, listing);
    assert.ok(problems.includes('set lan_blocked holds 0 elements, expected 1'));
    assert.ok(problems.includes('set client_ports holds other elements than expected'));
    assert.ok(problems.includes('chain forward has 1 rules, expected 4'));
    assert.ok(problems.includes('unexpected chain extra'));
  });

  it('the cheap check needs exactly the rendered chains of table pgw (names read over netlink, nftnetlink.ts)', () => {
    const all = Object.keys(rendered.chains);
    assert.deepEqual(verifyChainNames(rendered, all), []);
    assert.deepEqual(verifyChainNames(rendered, []), ['table inet pgw is missing']);
    assert.deepEqual(verifyChainNames(rendered, [...all.filter((n) => n !== 'forward'), 'extra']), ['chain forward is missing', 'unexpected chain extra']);
  });

  it('a rule replaced in place or a chain policy changed (the same counts) differs from the rules read back after the apply', () => {
    const baseline = parseTableListing(nftJson(goodElems, rendered.chains)).rules;
    assert.deepEqual(verifyTable(rendered, parseTableListing(nftJson(goodElems, rendered.chains)), baseline), []);
    const replaced = parseTableListing(nftJson(goodElems, rendered.chains, { rule: ['lan_input', 0, [{ accept: null }]] }));
    assert.deepEqual(verifyTable(rendered, replaced), [], 'counts alone cannot tell');
    assert.deepEqual(verifyTable(rendered, replaced, baseline), ['chain lan_input: its rules differ from those applied']);
    const policyChanged = parseTableListing(nftJson(goodElems, rendered.chains, { policy: ['forward', 'drop'] }));
    assert.deepEqual(verifyTable(rendered, policyChanged, baseline), ['chain forward: its rules differ from those applied']);
    // A counter's values move with traffic: not an edit.
    const counted = (packets: number) => parseTableListing(nftJson(goodElems, rendered.chains, { rule: ['lan_input', 0, [{ counter: { packets, bytes: packets * 60 } }, { accept: null }]] })).rules;
    assert.deepEqual(verifyTable(rendered, parseTableListing(nftJson(goodElems, rendered.chains, { rule: ['lan_input', 0, [{ counter: { packets: 9, bytes: 540 } }, { accept: null }]] })), counted(1)), []);
  });

  it('rejects output that is not nft JSON', () => {
    assert.throws(() => parseTableListing('{"x":1}'), /no "nftables" array/);
    assert.throws(() => parseTableListing('Error: x'));
  });
});
