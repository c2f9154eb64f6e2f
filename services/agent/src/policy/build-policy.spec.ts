import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredProxy, DesiredState } from '@pgw/db';
import { DEFAULT_SETTINGS, type InterfaceName, type Ipv4, type Mapping, parseInterfaceName, parseIpv4, parseMacAddress, parsePort, type ProxyStatus } from '@pgw/domain';
import { buildGatewayPolicy, guardRefusal, type HostFacts, prepareMappings, SettingsRefused } from './build-policy.js';
import { guardLanInterface } from './host-facts.js';

/** A gateway with ens19/eth0, the kernel's default ephemeral range and nothing else listening. */
const HOST: HostFacts = {
  interfaces: new Set(['lo', 'ens19', 'eth0']),
  localAddresses: new Set(),
  defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: false, linkRoutes: [],
  localPortRange: { min: 32768, max: 60999 },
  reserved: new Map([[9103, 'pgw-health metrics']]),
  foreignListeners: new Map(),
};

/** Strict OUTPUT's inputs when no test needs them. */
const NO_UIDS = { uids: [], proxyAllowNetworks: [] };

function proxy(id: number, status: ProxyStatus, host = `198.51.100.${10 + id}`): DesiredProxy {
  return { id, protocol: 'socks5', host, port: parsePort(1080), status };
}

function mapping(id: number, clientIp: string, proxyId: number, enabled = true): Mapping {
  return { id, clientIp: parseIpv4(clientIp), proxyId, listenPort: parsePort(20000 + id), enabled, description: 'desk "A"; } flush ruleset' };
}

function state(mappings: Mapping[], proxies: DesiredProxy[], strictOutput = false): DesiredState {
  return { settings: { ...DEFAULT_SETTINGS, strictOutput }, proxies, mappings, rejected: [] };
}

describe('buildGatewayPolicy', () => {
  it('carries a mapping’s MAC pin to its client, blocked or not; an unpinned client has none', () => {
    const mac = parseMacAddress('52:54:00:ab:cd:0f');
    const { policy } = buildGatewayPolicy(state([{ ...mapping(1, '192.168.2.10', 1), macAddress: mac }, { ...mapping(2, '192.168.2.11', 2), macAddress: mac }, mapping(3, '192.168.2.12', 1)], [proxy(1, 'up'), proxy(2, 'down')]), new Map(), NO_UIDS, HOST);
    assert.deepEqual(policy.clients.map((c) => [c.ip, c.mac ?? null, c.blocked]), [['192.168.2.10', mac, null], ['192.168.2.11', mac, 'proxy_down'], ['192.168.2.12', null, null]]);
  });

  it('gives every state its reason, failing closed (unknown and missing proxies are not up)', () => {
    const { policy } = buildGatewayPolicy(
      state(
        [mapping(1, '192.168.2.10', 1), mapping(2, '192.168.2.11', 2), mapping(3, '192.168.2.12', 3), mapping(4, '192.168.2.13', 1, false), mapping(5, '192.168.2.14', 99)],
        [proxy(1, 'up'), proxy(2, 'down'), proxy(3, 'unknown')],
      ),
      new Map(),
      NO_UIDS,
      HOST,
    );
    assert.deepEqual(
      policy.clients.map((c) => [c.ip, c.blocked]),
      [
        ['192.168.2.10', null],
        ['192.168.2.11', 'proxy_down'],
        ['192.168.2.12', 'proxy_unknown'],
        ['192.168.2.13', 'mapping_disabled'],
        ['192.168.2.14', 'proxy_unknown'],
      ],
    );
    assert.deepEqual(policy.clients[0], { mappingId: 1, proxyId: 1, ip: '192.168.2.10', port: 20001, blocked: null });
  });

  it('leaves out and reports a client outside the LAN, and rows the loader rejected', () => {
    const desired = { ...state([mapping(1, '10.9.9.9', 1), mapping(2, '192.168.2.10', 1)], [proxy(1, 'up')]), rejected: [{ mappingId: 7, reason: 'invalid client_ip' }] };
    const { policy, rejected } = buildGatewayPolicy(desired, new Map(), NO_UIDS, HOST);
    assert.deepEqual(policy.clients.map((c) => c.ip), ['192.168.2.10']);
    assert.deepEqual(rejected, [
      { mappingId: 7, reason: 'invalid client_ip' },
      { mappingId: 1, reason: 'client 10.9.9.9 is outside the LAN 192.168.2.0/24' },
    ]);
  });

  it('leaves out a client at the gateway\'s own address; the prefix\'s first and last address stay clients (a LAN routed as /32s uses them)', () => {
    const desired = state([mapping(1, '192.168.2.0', 1), mapping(2, '192.168.2.255', 1), mapping(3, '192.168.2.1', 1), mapping(4, '192.168.2.10', 1)], [proxy(1, 'up')]);
    const { policy, rejected } = buildGatewayPolicy(desired, new Map(), NO_UIDS, { ...HOST, localAddresses: new Set(['192.168.2.1', '203.0.113.2']) });
    assert.deepEqual(policy.clients.map((c) => c.ip), ['192.168.2.0', '192.168.2.10', '192.168.2.255']);
    assert.deepEqual(rejected, [{ mappingId: 3, reason: 'client 192.168.2.1 is an address of this gateway' }]);
  });

  it('leaves out a client inside a range the gateway takes as its own (a local route: AnyIP)', () => {
    const desired = state([mapping(1, '192.168.2.200', 1), mapping(2, '192.168.2.10', 1)], [proxy(1, 'up')]);
    const { policy, rejected } = buildGatewayPolicy(desired, new Map(), NO_UIDS, { ...HOST, localAddresses: new Set(['192.168.2.1', '192.168.2.192/26']) });
    assert.deepEqual(policy.clients.map((c) => c.ip), ['192.168.2.10']);
    assert.deepEqual(rejected, [{ mappingId: 1, reason: 'client 192.168.2.200 is an address of this gateway' }]);
  });

  it('never gives one client two ports or two clients one port', () => {
    const twice = { ...mapping(2, '192.168.2.10', 1) };
    const samePort = { ...mapping(3, '192.168.2.11', 1), listenPort: parsePort(20001) };
    const { policy, rejected } = buildGatewayPolicy(state([mapping(1, '192.168.2.10', 1), twice, samePort], [proxy(1, 'up')]), new Map(), NO_UIDS, HOST);
    assert.equal(policy.clients.length, 1);
    assert.deepEqual(rejected.map((r) => r.mappingId), [2, 3]);
  });

  it('sorts clients by address so the script does not depend on row order', () => {
    const { policy } = buildGatewayPolicy(state([mapping(1, '192.168.2.100', 1), mapping(2, '192.168.2.9', 1)], [proxy(1, 'up')]), new Map(), NO_UIDS, HOST);
    assert.deepEqual(policy.clients.map((c) => c.ip), ['192.168.2.9', '192.168.2.100']);
  });

  it('strict OUTPUT off: no upstreams, no uids', () => {
    const { policy } = buildGatewayPolicy(state([], [proxy(1, 'up')]), new Map(), { uids: [999], proxyAllowNetworks: [] }, HOST);
    assert.equal(policy.strictOutput, null);
  });

  it('carries the HA peer from the agent’s configuration; a VRRP link that is the LAN (lan_input drops VRRP) or not on this gateway is reported', () => {
    const vrrpPeer = { interface: parseInterfaceName('eth0'), ip: parseIpv4('198.51.100.2') };
    const built = buildGatewayPolicy(state([], []), new Map(), { ...NO_UIDS, vrrpPeer }, HOST);
    assert.deepEqual([built.policy.vrrpPeer, built.refusals], [vrrpPeer, []]);
    assert.equal('vrrpPeer' in buildGatewayPolicy(state([], []), new Map(), NO_UIDS, HOST).policy, false);
    const onLan = buildGatewayPolicy(state([], []), new Map(), { ...NO_UIDS, vrrpPeer: { ...vrrpPeer, interface: parseInterfaceName('ens19') } }, HOST);
    assert.deepEqual(onLan.refusals.map((r) => r.subject), ['PGW_HA_VRRP_IF']);
    assert.match(onLan.refusals[0]!.reason, /ens19 is the LAN interface/);
    const missing = buildGatewayPolicy(state([], []), new Map(), { ...NO_UIDS, vrrpPeer: { ...vrrpPeer, interface: parseInterfaceName('eth01') } }, HOST);
    assert.deepEqual(missing.refusals.map((r) => r.reason), ['PGW_HA_VRRP_IF "eth01" does not exist on this gateway: no advert from the HA peer is taken']);
  });

  it('strict OUTPUT on: every proxy endpoint, resolved hosts, unresolved ones reported', () => {
    const resolved = new Map<string, Ipv4[]>([['proxy.example', [parseIpv4('203.0.113.50'), parseIpv4('203.0.113.51')]]]);
    const { policy, refusals } = buildGatewayPolicy(
      state([], [proxy(1, 'down'), proxy(2, 'up', 'proxy.example'), proxy(3, 'up', 'gone.example')], true),
      resolved,
      { uids: [999, 998, 999], proxyAllowNetworks: [] },
      HOST,
    );
    assert.deepEqual(policy.strictOutput?.allowedUids, [998, 999]);
    assert.deepEqual(policy.strictOutput?.upstreams.map((u) => `${u.ip}:${u.port}`), ['198.51.100.11:1080', '203.0.113.50:1080', '203.0.113.51:1080']);
    assert.deepEqual(refusals, [{ subject: 'proxy 3 (gone.example)', reason: 'gone.example resolves to no IPv4 address: strict OUTPUT lets nothing reach it' }]);
  });

  it('strict OUTPUT on: an address where no proxy may be (the LAN, link-local, multicast, broadcast) opens no upstream, named or literal; the allowed networks may', () => {
    // A name the operator's resolver points into the LAN would otherwise let the forwarder's uid
    // open connections to a LAN host: the same judgement as the api's and the forwarder's.
    const resolved = new Map<string, Ipv4[]>([
      ['rebound.example', [parseIpv4('192.168.2.60'), parseIpv4('203.0.113.70')]],
      ['linklocal.example', [parseIpv4('169.254.169.254')]],
    ]);
    const proxies = [proxy(1, 'up', '192.168.2.50'), proxy(2, 'up', 'rebound.example'), proxy(3, 'up', 'linklocal.example'), proxy(4, 'up', '224.0.0.5'), proxy(5, 'up', '255.255.255.255')];
    const { policy, refusals } = buildGatewayPolicy(state([], proxies, true), resolved, { uids: [999], proxyAllowNetworks: [] }, HOST);
    assert.deepEqual(policy.strictOutput?.upstreams.map((u) => `${u.ip}:${u.port}`), ['203.0.113.70:1080']);
    assert.deepEqual(
      refusals.map((r) => r.subject),
      ['proxy 1 (192.168.2.50)', 'proxy 2 (rebound.example)', 'proxy 3 (linklocal.example)', 'proxy 4 (224.0.0.5)', 'proxy 5 (255.255.255.255)'],
    );
    assert.match(refusals[1]!.reason, /rebound\.example resolves to 192\.168\.2\.60: .*LAN.*not an upstream/);
    const allowed = buildGatewayPolicy(state([], proxies.slice(0, 2), true), resolved, { uids: [999], proxyAllowNetworks: ['192.168.2.50/31'] }, HOST);
    assert.deepEqual(allowed.policy.strictOutput?.upstreams.map((u) => `${u.ip}:${u.port}`), ['192.168.2.50:1080', '203.0.113.70:1080']);
    assert.deepEqual(allowed.refusals.map((r) => r.subject), ['proxy 2 (rebound.example)']);
  });

  it('blocks (never DNATs) a mapping whose port the host refuses, and says why', () => {
    const onMetrics = { ...mapping(2, '192.168.2.11', 1), listenPort: parsePort(9103) };
    const foreign = { ...mapping(3, '192.168.2.12', 1), listenPort: parsePort(21000) };
    const host = { ...HOST, foreignListeners: new Map([[21000, 'a listening socket of uid 1001, not the forwarder']]) };
    const desired = { ...state([mapping(1, '192.168.2.10', 1), onMetrics, foreign], [proxy(1, 'up')]), settings: { ...DEFAULT_SETTINGS, forwarderPortMin: parsePort(9000) } };
    const { policy, refusals } = buildGatewayPolicy(desired, new Map(), NO_UIDS, host);
    assert.deepEqual(policy.clients.map((c) => [c.ip, c.port, c.blocked]), [
      ['192.168.2.10', 20001, null],
      ['192.168.2.11', 9103, 'port_refused'],
      ['192.168.2.12', 21000, 'port_refused'],
    ]);
    assert.deepEqual(refusals, [
      { subject: 'mapping 2 (192.168.2.11)', reason: 'port refused (9103 is pgw-health metrics)' },
      { subject: 'mapping 3 (192.168.2.12)', reason: 'port refused (21000 has a listening socket of uid 1001, not the forwarder)' },
    ]);
  });

  it('refuses settings the host cannot enforce: the whole desired state, with every reason', () => {
    const bad = { ...state([mapping(1, '192.168.2.10', 1)], [proxy(1, 'up')]) };
    const refused = (settings: Partial<DesiredState['settings']>) => {
      try {
        buildGatewayPolicy({ ...bad, settings: { ...bad.settings, ...settings } }, new Map(), NO_UIDS, HOST);
      } catch (error) {
        assert.ok(error instanceof SettingsRefused);
        return error.refusals;
      }
      assert.fail('settings accepted');
    };
    assert.deepEqual(refused({ lanInterface: 'lo' as InterfaceName }), [{ subject: 'lanInterface', reason: 'lanInterface "lo" is the loopback interface' }]);
    // Stored before the api refused them: the whole LAN policy would match every address, or none.
    assert.deepEqual(refused({ lanCidr: '0.0.0.0/0' as DesiredState['settings']['lanCidr'] }), [{ subject: 'lanCidr', reason: 'lanCidr 0.0.0.0/0 is wider than /8: no LAN is' }]);
    // LAN and WAN swapped: the LAN's drops and its sysctl backstop would cut the gateway's uplink off.
    assert.deepEqual(refused({ lanInterface: parseInterfaceName('eth0'), wanInterface: parseInterfaceName('ens19') }), [
      { subject: 'lanInterface', reason: 'lanInterface "eth0" holds the gateway\'s default route: it is the uplink, not the LAN' },
    ]);
    assert.deepEqual(refused({ lanInterface: parseInterfaceName('ens20'), forwarderPortMin: parsePort(1), forwarderPortMax: parsePort(65535) }), [
      { subject: 'lanInterface', reason: 'lanInterface "ens20" does not exist on this gateway' },
      { subject: 'forwarderPortMin', reason: 'forwarder port window 1-65535 reaches below 1024' },
    ]);
  });

  it('names a LAN interface the guard file does not cover (reported, not blocking: guardRefusal)', () => {
    const settings = state([], []).settings;
    const onGuard = (lanInterface: string | null) => ({ ...HOST, guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface } });
    assert.equal(guardRefusal(settings, onGuard('ens19')), null, 'the guard names the LAN interface');
    assert.deepEqual(guardRefusal(settings, onGuard('ens20')), { subject: 'lanInterface', reason: 'lanInterface "ens19" is not the guard\'s LAN interface "ens20" (PGW_LAN_IF in /etc/pgw/pgw-guard.nft): edit that file, then load it again (guard/load-guard.sh, or systemctl reload pgw-guard)' });
    assert.deepEqual(guardRefusal(settings, onGuard(null)), { subject: 'lanInterface', reason: 'lanInterface "ens19" is not covered by the guard: PGW_LAN_IF in /etc/pgw/pgw-guard.nft names no usable interface: edit that file, then load it again (guard/load-guard.sh, or systemctl reload pgw-guard)' });
    // The settings still apply: refusing them would leave the LAN without table inet pgw too.
    assert.doesNotThrow(() => buildGatewayPolicy(state([mapping(1, '192.168.2.10', 1)], [proxy(1, 'up')]), new Map(), NO_UIDS, onGuard('ens20')));
  });

  it('reads the guard file\'s LAN interface as its loader does', () => {
    assert.equal(guardLanInterface('# x\ndefine PGW_LAN_IF = "ens19"\ndefine PGW_WAN_IF = "eth0"\n'), 'ens19');
    for (const text of ['', 'define PGW_LAN_IF = ens19', 'define PGW_LAN_IF = "lo"', 'define PGW_LAN_IF = "a b"', '#define PGW_LAN_IF = "ens19"', 'define PGW_LAN_IF = "ens19" # lan']) {
      assert.equal(guardLanInterface(text), null, text);
    }
  });

  it('reuses the prepared mappings on a proxy change: the same result, and each unchanged client the very same object', () => {
    const rows = [mapping(1, '192.168.2.20', 1), mapping(2, '192.168.2.3', 2), mapping(3, '192.168.2.100', 1)];
    const before = state(rows, [proxy(1, 'up'), proxy(2, 'up')]);
    const after = state(rows, [proxy(1, 'down'), proxy(2, 'up')]);
    const prepared = prepareMappings(before, HOST);
    const first = buildGatewayPolicy(before, new Map(), NO_UIDS, HOST, prepared);
    const second = buildGatewayPolicy(after, new Map(), NO_UIDS, HOST, prepared);
    assert.deepEqual(second, buildGatewayPolicy(after, new Map(), NO_UIDS, HOST), 'as built from scratch');
    assert.deepEqual(second.policy.clients.map((c) => [c.ip, c.blocked]), [['192.168.2.3', null], ['192.168.2.20', 'proxy_down'], ['192.168.2.100', 'proxy_down']]);
    assert.equal(second.policy.clients[0], first.policy.clients[0], 'the client of the proxy still up is the same object');
    assert.notEqual(second.policy.clients[1], first.policy.clients[1]);
    const third = buildGatewayPolicy(before, new Map(), NO_UIDS, HOST, prepared);
    assert.equal(third.policy.clients[1], first.policy.clients[1], 'back up: the object made for that state before');
  });
});
