// Fail policy backup (issue 17) in the forwarder's routes: the proxy each client dials, and its relays closed on a move.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredProxyWithCredentials, DesiredState } from '@pgw/db';
import { DEFAULT_SETTINGS, type Mapping, parseIpv4, parsePort, type ProxyStatus } from '@pgw/domain';
import { diffRoutes } from './route-diff.js';
import { buildRoutes } from './routes.js';

const NOW = 5_000_000;
const proxy = (id: number, status: ProxyStatus, sinceAgoMs = 3_600_000, extra: Partial<DesiredProxyWithCredentials> = {}): DesiredProxyWithCredentials => ({
  id, protocol: 'socks5', host: `198.51.100.${10 + id}`, port: parsePort(1080), status, statusSince: NOW - sinceAgoMs,
  username: null, passwordEnc: null, handshakeMode: 'auto', handshakeLearned: null, ...extra,
});
const client = (extra: Partial<Mapping> = {}): Mapping => ({ id: 1, clientIp: parseIpv4('192.168.2.10'), proxyId: 1, listenPort: parsePort(20001), enabled: true, description: '', failPolicy: 'backup', backupProxyIds: [2, 3], ...extra });
const state = (proxies: DesiredProxyWithCredentials[], mapping = client()): DesiredState<DesiredProxyWithCredentials> => ({ settings: { ...DEFAULT_SETTINGS, backupHoldDownS: 30 }, proxies, mappings: [mapping], rejected: [] });
const decrypt = (sealed: string) => {
  if (!sealed.startsWith('sealed:')) throw new Error('cannot decrypt');
  return sealed.slice('sealed:'.length);
};

describe('buildRoutes with fail policies', () => {
  it('dials the first healthy backup while the primary is down, with that proxy\'s endpoint', () => {
    const { routes } = buildRoutes(state([proxy(1, 'down'), proxy(2, 'down'), proxy(3, 'up')]), decrypt, NOW);
    const route = routes.get(1)!;
    assert.deepEqual([route.proxyId, route.blocked, route.proxy?.host], [3, null, '198.51.100.13']);
  });

  it('all down: blocked, through no proxy', () => {
    const { routes } = buildRoutes(state([proxy(1, 'down'), proxy(2, 'unknown'), proxy(3, 'down')]), decrypt, NOW);
    assert.deepEqual([routes.get(1)!.proxyId, routes.get(1)!.blocked], [1, 'proxy_down']);
  });

  it('a backup whose password cannot be opened blocks rather than dialing without it', () => {
    const { routes } = buildRoutes(state([proxy(1, 'down'), proxy(2, 'up', 3_600_000, { username: 'u', passwordEnc: 'garbage' })]), decrypt, NOW);
    assert.deepEqual([routes.get(1)!.proxyId, routes.get(1)!.blocked], [2, 'credentials_unreadable']);
  });

  it('a move to the backup and back after the hold-down each close the live relays', () => {
    const onPrimary = buildRoutes(state([proxy(1, 'up'), proxy(2, 'up')]), decrypt, NOW).routes;
    const onBackup = buildRoutes(state([proxy(1, 'down', 1), proxy(2, 'up')]), decrypt, NOW).routes;
    const moved = diffRoutes(onPrimary, onBackup);
    assert.deepEqual(moved.update.map((u) => [u.route.proxyId, u.closeConnections]), [[2, true]]);
    const recovered = buildRoutes(state([proxy(1, 'up', 5_000), proxy(2, 'up')]), decrypt, NOW);
    assert.equal(recovered.routes.get(1)!.proxyId, 2, 'sticky during the hold-down');
    assert.equal(recovered.recheckAt, NOW + 25_000);
    assert.equal(diffRoutes(onBackup, recovered.routes).update.length, 0, 'no relay closed while it stays');
    const back = buildRoutes(state([proxy(1, 'up', 5_000), proxy(2, 'up')]), decrypt, recovered.recheckAt!);
    assert.deepEqual(diffRoutes(onBackup, back.routes).update.map((u) => [u.route.proxyId, u.closeConnections]), [[1, true]]);
  });

  it('closed (the default) keeps v1: blocked while the proxy is down whatever the list says', () => {
    const { routes, recheckAt } = buildRoutes(state([proxy(1, 'down'), proxy(2, 'up')], client({ failPolicy: 'closed' })), decrypt, NOW);
    assert.deepEqual([routes.get(1)!.proxyId, routes.get(1)!.blocked, recheckAt], [1, 'proxy_down', null]);
  });
});
