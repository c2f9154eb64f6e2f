// Fail policy backup (issue 17) in the agent's policy: which clients are effective, and through which proxy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredProxy, DesiredState } from '@pgw/db';
import { DEFAULT_SETTINGS, type Mapping, parseIpv4, parsePort, type ProxyStatus } from '@pgw/domain';
import { buildGatewayPolicy, type HostFacts } from './build-policy.js';
import { agentStatus } from '../status.js';

const HOST: HostFacts = { interfaces: new Set(['lo', 'ens19', 'eth0']), localAddresses: new Set<string>(), defaultRouteInterfaces: new Set(['eth0']), guard: { file: '/etc/pgw/pgw-guard.nft', lanInterface: 'ens19' }, routeLocalnetAll: false, linkRoutes: [], localPortRange: { min: 32768, max: 60999 }, reserved: new Map(), foreignListeners: new Map() };
const NOW = 5_000_000;
const proxy = (id: number, status: ProxyStatus, sinceAgoMs = 3_600_000): DesiredProxy => ({ id, protocol: 'socks5', host: `198.51.100.${10 + id}`, port: parsePort(1080), status, statusSince: NOW - sinceAgoMs });
const mapping = (id: number, proxyId: number, extra: Partial<Mapping> = {}): Mapping => ({
  id, clientIp: parseIpv4(`192.168.2.${10 + id}`), proxyId, listenPort: parsePort(20000 + id), enabled: true, description: '', ...extra,
});
const state = (mappings: Mapping[], proxies: DesiredProxy[]): DesiredState => ({ settings: { ...DEFAULT_SETTINGS, backupHoldDownS: 30 }, proxies, mappings, rejected: [] });
const build = (s: DesiredState, now = NOW) => buildGatewayPolicy(s, new Map(), { uids: [], proxyAllowNetworks: [] }, HOST, undefined, now);

describe('buildGatewayPolicy with fail policies', () => {
  const mappings = [
    mapping(1, 1, { failPolicy: 'backup', backupProxyIds: [2, 3] }),
    mapping(2, 1), // closed (absent)
    mapping(3, 1, { failPolicy: 'backup', backupProxyIds: [2], enabled: false }),
    mapping(4, 4, { failPolicy: 'backup', backupProxyIds: [2] }),
  ];

  it('primary down: a backup client is effective on its first healthy backup, a closed one blocked, never both', () => {
    const { policy, recheckAt } = build(state(mappings, [proxy(1, 'down'), proxy(2, 'down'), proxy(3, 'up'), proxy(4, 'up')]));
    assert.deepEqual(
      policy.clients.map((c) => [c.mappingId, c.proxyId, c.blocked, c.onBackup ?? false]),
      [
        [1, 3, null, true],
        [2, 1, 'proxy_down', false],
        [3, 1, 'mapping_disabled', false],
        [4, 4, null, false],
      ],
    );
    assert.equal(recheckAt, null);
  });

  it('every proxy of the list down: blocked with the primary reason (fail closed, no direct route)', () => {
    const { policy } = build(state(mappings, [proxy(1, 'down'), proxy(2, 'down'), proxy(3, 'unknown'), proxy(4, 'up')]));
    assert.deepEqual(policy.clients[0], { mappingId: 1, proxyId: 1, ip: '192.168.2.11', port: 20001, blocked: 'proxy_down' });
  });

  it('a recovered primary: on the backup until the hold-down has passed, with the time to look again', () => {
    const desired = state(mappings, [proxy(1, 'up', 10_000), proxy(2, 'up'), proxy(3, 'up'), proxy(4, 'up')]);
    const during = build(desired);
    assert.deepEqual([during.policy.clients[0]!.proxyId, during.policy.clients[0]!.onBackup], [2, true]);
    assert.equal(during.policy.clients[1]!.proxyId, 1, 'a closed mapping uses its proxy at once');
    assert.equal(during.recheckAt, NOW + 20_000);
    const afterwards = build(desired, NOW + 20_000);
    assert.deepEqual([afterwards.policy.clients[0]!.proxyId, afterwards.policy.clients[0]!.onBackup], [1, undefined]);
    assert.equal(afterwards.recheckAt, null);
  });

  it("the status record names each client's backup; a blocked one is not on a backup", () => {
    const outcome = { ok: true, durationMs: 1, errors: [], refusals: [], build: build(state(mappings, [proxy(1, 'down'), proxy(2, 'up'), proxy(3, 'up'), proxy(4, 'up')])) };
    const record = agentStatus(outcome as unknown as Parameters<typeof agentStatus>[0], new Date(NOW));
    assert.deepEqual(record.onBackup, { '192.168.2.11': 2 });
    assert.deepEqual(Object.keys(record.blocked).sort(), ['192.168.2.12', '192.168.2.13']);
  });
});
