import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredState } from '@pgw/db';
import { DEFAULT_SETTINGS, type Ipv4, parseInterfaceName, parseIpv4, parsePort } from '@pgw/domain';
import type { HostFacts, Refusal } from './build-policy.js';
import { DesiredSource, tablesToLoad } from './desired-source.js';
import { SettingsRefused } from './build-policy.js';

function state(status: 'up' | 'down', host = '198.51.100.10', strictOutput = false): DesiredState {
  return {
    settings: { ...DEFAULT_SETTINGS, strictOutput },
    proxies: [{ id: 1, protocol: 'socks5', host, port: parsePort(1080), status }],
    mappings: [{ id: 1, clientIp: parseIpv4('192.168.2.10'), proxyId: 1, listenPort: parsePort(20000), enabled: true, description: '' }],
    rejected: [],
  };
}

function setup(initial: DesiredState, inForceAtStart: DesiredState['settings'] | null = null) {
  let rows = initial;
  let fingerprint = 'f1';
  let addresses: Ipv4[] = [parseIpv4('203.0.113.50')];
  let host: HostFacts = { interfaces: new Set(['ens19', 'eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: false, linkRoutes: [], localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() };
  const asked: (string | null)[] = [];
  let down: Error | null = null;
  let silent = false;
  let schemaRefused: Refusal[] | null = null;
  const source = new DesiredSource({
    loadIfChanged: async (known) => {
      if (silent) return new Promise<never>(() => undefined);
      if (down !== null) throw down;
      asked.push(known?.fingerprint ?? null);
      if (known?.fingerprint === fingerprint) return { fingerprint, state: null };
      return { fingerprint, state: rows, ...(schemaRefused ? { settingsRefused: schemaRefused } : {}) };
    },
    resolve: async (hosts) => new Map(hosts.filter((h) => !/^\d/.test(h)).map((h) => [h, addresses])),
    hostFacts: async () => host,
    policyInput: { uids: [999], proxyAllowNetworks: [] },
    inForceAtStart,
    loadDeadlineMs: 100,
  });
  return {
    source,
    asked,
    change: (next: DesiredState, fp: string) => void ((rows = next), (fingerprint = fp)),
    resolveTo: (ips: Ipv4[]) => void (addresses = ips),
    hostIs: (facts: HostFacts) => void (host = facts),
    databaseDown: (error: Error | null) => void (down = error),
    /** Postgres gone silent: connections open, nothing answered (a read would wait ~15 min for TCP to give up). */
    databaseSilent: (on: boolean) => void (silent = on),
    /** As the repository reads a settings row the schema refuses: the rows carry the settings read before it. */
    settingsRowRefused: (refusals: Refusal[] | null) => void (schemaRefused = refusals),
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
    const facts = { interfaces: new Set(['ens19', 'eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: false, linkRoutes: [], localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() };
    t.hostIs(facts);
    assert.equal(await t.source.load(), first, 'equal facts: the same build');
    t.hostIs({ ...facts, foreignListeners: new Map([[20000, 'a listening socket of uid 1001, not the forwarder']]) });
    const next = await t.source.load();
    assert.equal(next.policy.clients[0]?.blocked, 'port_refused');
    assert.deepEqual(next.refusals.map((r) => r.reason), ['port refused (20000 has a listening socket of uid 1001, not the forwarder)']);
  });

  it('settings refused on this host: the rest of the desired state still applies, under the settings last accepted', async () => {
    const t = setup(state('up'));
    const first = await t.source.load();
    assert.equal(first.policy.lan.interface, 'ens19');
    // The operator names a LAN interface this gateway lacks; meanwhile the client's proxy dies.
    const refused = state('down');
    t.change({ ...refused, settings: { ...refused.settings, lanInterface: parseInterfaceName('ens99') } }, 'f2');
    const next = await t.source.load();
    assert.equal(next.policy.clients[0]?.blocked, 'proxy_down', 'the dead proxy\'s client is blocked although the settings are refused');
    assert.equal(next.policy.lan.interface, 'ens19', 'the ruleset keeps the LAN interface in force');
    assert.deepEqual(next.settingsRefused?.map((r) => r.subject), ['lanInterface']);
    assert.equal(t.source.settings?.lanInterface, 'ens19', 'the settings in force are the accepted ones');
    assert.equal(await t.source.load(), next, 'unchanged: the same build, the refusal with it');

    // Accepted again: applied, no refusal.
    t.change(state('down'), 'f3');
    const accepted = await t.source.load();
    assert.equal(accepted.settingsRefused, undefined);
    assert.equal(accepted.policy.clients[0]?.blocked, 'proxy_down');
  });

  it('settings refused before any were accepted (the first load): nothing is built', async () => {
    const bad = state('up');
    const t = setup({ ...bad, settings: { ...bad.settings, lanInterface: parseInterfaceName('ens99') } });
    await assert.rejects(t.source.load(), /settings refused: lanInterface "ens99" does not exist/);
  });

  it('a LAN interface the guard does not name: built under those settings all the same, the guard named in the build', async () => {
    const t = setup(state('up'));
    t.hostIs({ interfaces: new Set(['ens19', 'eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens20' }, routeLocalnetAll: false, linkRoutes: [], localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() });
    const build = await t.source.load();
    assert.equal(build.policy.lan.interface, 'ens19');
    assert.equal(build.settingsRefused, undefined, 'not a refusal of the settings');
    assert.match(build.guardRefused?.reason ?? '', /not the guard's LAN interface "ens20"/);
  });

  it('all.route_localnet on: built all the same, the open hole named in the build', async () => {
    const t = setup(state('up'));
    t.hostIs({ interfaces: new Set(['ens19', 'eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: true, linkRoutes: [], localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() });
    const build = await t.source.load();
    assert.equal(build.policy.clients.length, 1);
    assert.equal(build.guardRefused, undefined);
    assert.match(build.localnetRefused?.reason ?? '', /net\.ipv4\.conf\.all\.route_localnet is 1/);
  });

  it('settings refused at the first load after a restart: built under those the state file kept, the dead proxy blocking its client', async () => {
    const bad = state('down');
    const kept = state('up').settings;
    const t = setup({ ...bad, settings: { ...bad.settings, lanInterface: parseInterfaceName('ens99') } }, kept);
    const build = await t.source.load();
    assert.equal(build.policy.lan.interface, 'ens19', 'the settings in force before the restart');
    assert.equal(build.policy.clients[0]?.blocked, 'proxy_down');
    assert.match(build.settingsRefused?.[0]?.reason ?? '', /ens99/);
    assert.equal(t.source.settings, kept);
  });

  it('settings the host no longer allows either (the accepted interface is gone too): built under the accepted ones, every refusal reported', async () => {
    const t = setup(state('up'));
    await t.source.load();
    const refused = state('down');
    t.change({ ...refused, settings: { ...refused.settings, lanInterface: parseInterfaceName('ens99') } }, 'f2');
    t.hostIs({ interfaces: new Set(['eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: false, linkRoutes: [], localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() });
    const build = await t.source.load();
    assert.deepEqual(build.settingsRefused?.map((r) => r.reason.match(/ens\d+/)?.[0]), ['ens99', 'ens19']);
    assert.equal(build.policy.lan.interface, 'ens19', 'the settings in force');
    assert.equal(build.policy.clients[0]?.blocked, 'proxy_down', 'the dead proxy applies');
  });

  it('settings unchanged while the host comes to refuse them (the port range widened over the window): a dead proxy still blocks its client', async () => {
    const t = setup(state('up'));
    assert.equal((await t.source.load()).settingsRefused, undefined);
    t.hostIs({ interfaces: new Set(['ens19', 'eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: false, linkRoutes: [], localPortRange: { min: 25000, max: 65000 }, reserved: new Map(), foreignListeners: new Map() });
    t.change(state('down'), 'f2');
    const build = await t.source.load();
    assert.equal(build.settingsRefused?.[0]?.subject, 'forwarderPortMin');
    assert.equal(build.policy.clients[0]?.blocked, 'proxy_down');
  });

  it('rows unchanged while the LAN moves onto a bridge over ens19 (only the routes change): refused at the next load', async () => {
    const t = setup(state('up'));
    assert.equal((await t.source.load()).settingsRefused, undefined);
    t.hostIs({ interfaces: new Set(['ens19', 'eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: false, linkRoutes: [{ iface: 'br-lan', network: '192.168.2.0', prefixLength: 24 }], localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() });
    const build = await t.source.load();
    assert.equal(build.settingsRefused?.[0]?.subject, 'lanInterface');
    assert.match(build.settingsRefused?.[0]?.reason ?? '', /routes it by br-lan/);
  });

  it('rows unreadable after a read: the build of the rows last read, marked loadFailed, the same object while nothing changes', async () => {
    const t = setup(state('up'));
    const first = await t.source.load();
    t.databaseDown(new Error('connect ECONNREFUSED /run/postgresql'));
    const failed = await t.source.load();
    assert.equal(failed.loadFailed, 'connect ECONNREFUSED /run/postgresql');
    assert.equal(failed.policy, first.policy, 'the policy of the rows last read');
    assert.equal(await t.source.load(), failed, 'the same build again: nothing for the reconciler to render');
    // The host is still read: another user on a mapped port is refused during the outage too.
    t.hostIs({ interfaces: new Set(['ens19', 'eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: false, linkRoutes: [], localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map([[20000, 'uid 1001']]) });
    const hostChanged = await t.source.load();
    assert.equal(hostChanged.loadFailed, 'connect ECONNREFUSED /run/postgresql');
    assert.equal(hostChanged.policy.clients[0]?.blocked, 'port_refused');
    t.databaseDown(null);
    const back = await t.source.load();
    assert.equal(back.loadFailed, undefined);
  });

  it('a settings row the schema refuses: built under the settings last accepted, only its refusal reported, the rest of the desired state applied', async () => {
    const t = setup(state('up'));
    await t.source.load();
    // The last read asked for ens99, refused by this host; then the row became one the schema refuses.
    const missing = state('up');
    t.change({ ...missing, settings: { ...missing.settings, lanInterface: parseInterfaceName('ens99') } }, 'f2');
    assert.ok((await t.source.load()).settingsRefused?.some((r) => /ens99/.test(r.reason)));
    const lo = { subject: 'lanInterface', reason: 'lanInterface: "lo" cannot be used: it is the loopback interface' };
    t.settingsRowRefused([lo]);
    const down = state('down');
    t.change({ ...down, settings: { ...down.settings, lanInterface: parseInterfaceName('ens99') } }, 'f3');
    const build = await t.source.load();
    assert.deepEqual(build.settingsRefused, [lo], 'the stand-in ens99 is not reported: it is no longer asked for');
    assert.equal(build.policy.lan.interface, 'ens19', 'the settings last accepted');
    assert.equal(build.policy.clients[0]?.blocked, 'proxy_down', 'the dead proxy applies');
    assert.equal(await t.source.load(), build, 'unchanged: the same build, still reporting the refusal');
  });

  it('a settings row the schema refuses while the host refuses the accepted settings too: built under them, naming both', async () => {
    const t = setup(state('up'));
    await t.source.load();
    const lo = { subject: 'lanInterface', reason: 'lanInterface: "lo" cannot be used: it is the loopback interface' };
    t.settingsRowRefused([lo]);
    t.change(state('down'), 'f2');
    t.hostIs({ interfaces: new Set(['eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: false, linkRoutes: [], localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() });
    const build = await t.source.load();
    assert.equal(build.settingsRefused?.[0], lo);
    assert.match(build.settingsRefused?.[1]?.reason ?? '', /ens19/);
    assert.equal(build.policy.clients[0]?.blocked, 'proxy_down');
  });

  it('rows not read within the deadline (Postgres silent): the build of the rows last read, marked loadFailed, without waiting for TCP', async () => {
    const t = setup(state('up'));
    const first = await t.source.load();
    t.databaseSilent(true);
    const started = Date.now();
    const failed = await t.source.load();
    assert.ok(Date.now() - started < 1_000, `waited ${Date.now() - started} ms`);
    assert.match(failed.loadFailed ?? '', /not read within 100 ms/);
    assert.equal(failed.policy, first.policy);
  });

  it('rows never read (the database down from the start): the error, no build', async () => {
    const t = setup(state('up'));
    t.databaseDown(new Error('connect ECONNREFUSED /run/postgresql'));
    await assert.rejects(t.source.load(), /ECONNREFUSED/);
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
