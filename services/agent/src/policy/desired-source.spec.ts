import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredState } from '@pgw/db';
import { DEFAULT_SETTINGS, type Ipv4, parseIpv4, parsePort } from '@pgw/domain';
import type { HostFacts } from './build-policy.js';
import { DesiredSource, tablesToLoad } from './desired-source.js';

function state(status: 'up' | 'down', host = '198.51.100.10', strictOutput = false): DesiredState {
  return {
    settings: { ...DEFAULT_SETTINGS, strictOutput },
    proxies: [{ id: 1, protocol: 'socks5', host, port: parsePort(1080), status }],
    mappings: [{ id: 1, clientIp: parseIpv4('192.168.2.10'), proxyId: 1, listenPort: parsePort(20000), enabled: true, description: '' }],
    rejected: [],
  };
}

function setup(initial: DesiredState) {
  let rows = initial;
  let fingerprint = 'f1';
  let addresses: Ipv4[] = [parseIpv4('203.0.113.50')];
  let host: HostFacts = { interfaces: new Set(['ens19', 'eth0']), localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() };
  const asked: (string | null)[] = [];
  const source = new DesiredSource({
    loadIfChanged: async (known) => {
      asked.push(known?.fingerprint ?? null);
      return { fingerprint, state: known?.fingerprint === fingerprint ? null : rows };
    },
    resolve: async (hosts) => new Map(hosts.filter((h) => !/^\d/.test(h)).map((h) => [h, addresses])),
    hostFacts: async () => host,
    strictOutputUids: [999],
  });
  return {
    source,
    asked,
    change: (next: DesiredState, fp: string) => void ((rows = next), (fingerprint = fp)),
    resolveTo: (ips: Ipv4[]) => void (addresses = ips),
    hostIs: (facts: HostFacts) => void (host = facts),
  };
}

describe('DesiredSource', () => {
  it('returns the same build while the fingerprint is unchanged, a new one when it changes', async () => {
    const t = setup(state('up'));
    const first = await t.source.load();
    assert.equal(await t.source.load(), first);
    assert.deepEqual(t.asked, [null, 'f1']);
    t.change(state('down'), 'f2');
    const next = await t.source.load();
    assert.notEqual(next, first);
    assert.equal(next.policy.clients[0]?.blocked, 'proxy_down');
  });

  it('strict OUTPUT: rebuilds when a proxy hostname resolves to other addresses although the rows are unchanged', async () => {
    const t = setup(state('up', 'proxy.example', true));
    const first = await t.source.load();
    assert.deepEqual(first.policy.strictOutput?.upstreams.map((u) => u.ip), ['203.0.113.50']);
    assert.equal(await t.source.load(), first);
    t.resolveTo([parseIpv4('203.0.113.51')]);
    const next = await t.source.load();
    assert.notEqual(next, first);
    assert.deepEqual(next.policy.strictOutput?.upstreams.map((u) => u.ip), ['203.0.113.51']);
  });

  it('rebuilds when another user starts listening on a mapped port although the rows are unchanged', async () => {
    const t = setup(state('up'));
    const first = await t.source.load();
    assert.equal(first.policy.clients[0]?.blocked, null);
    const facts = { interfaces: new Set(['ens19', 'eth0']), localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() };
    t.hostIs(facts);
    assert.equal(await t.source.load(), first, 'equal facts: the same build');
    t.hostIs({ ...facts, foreignListeners: new Map([[20000, 'a listening socket of uid 1001, not the forwarder']]) });
    const next = await t.source.load();
    assert.equal(next.policy.clients[0]?.blocked, 'port_refused');
    assert.deepEqual(next.refusals.map((r) => r.reason), ['port refused (20000 has a listening socket of uid 1001, not the forwarder)']);
  });
});

describe('tablesToLoad', () => {
  it('a notice looks at the one table it can change; coalesced notices at theirs; anything else at all three', () => {
    const tables = (...triggers: string[]) => [...tablesToLoad(new Set(triggers))].sort();
    assert.deepEqual(tables('event:proxy.status'), ['proxies']);
    assert.deepEqual(tables('event:proxy.changed', 'event:proxy.status'), ['proxies']);
    assert.deepEqual(tables('event:mapping.changed'), ['mappings']);
    assert.deepEqual(tables('event:config.changed', 'event:mapping.changed'), ['mappings', 'settings']);
    assert.deepEqual(tables('event:proxy.status', 'resync'), ['mappings', 'proxies', 'settings']);
    assert.deepEqual(tables('start'), ['mappings', 'proxies', 'settings']);
    assert.deepEqual(tables('handback'), ['mappings', 'proxies', 'settings']);
  });
});
