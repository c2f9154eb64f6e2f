import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4, parsePort } from '@pgw/domain';
import { diffRoutes } from './route-diff.js';
import type { MappingRoute } from './routes.js';

function route(id: number, extra: Partial<MappingRoute> = {}): MappingRoute {
  return {
    mappingId: id,
    clientIp: parseIpv4(`192.168.2.${10 + id}`),
    listenPort: parsePort(20000 + id),
    proxyId: 1,
    proxy: { protocol: 'socks5', host: '198.51.100.10', port: parsePort(1080) },
    handshake: 'sequential',
    blocked: null,
    privateDestinations: null,
    ...extra,
  };
}

function table(...routes: MappingRoute[]): Map<number, MappingRoute> {
  return new Map(routes.map((r) => [r.mappingId, r]));
}

describe('diffRoutes', () => {
  it('does nothing when nothing changed (fresh objects with equal values included)', () => {
    assert.deepEqual(diffRoutes(table(route(1), route(2)), table(route(1), route(2))), { close: [], open: [], update: [] });
  });

  it('opens a new mapping and closes a removed one, touching nothing else', () => {
    const diff = diffRoutes(table(route(1), route(2)), table(route(2), route(3)));
    assert.deepEqual(diff.close, [1]);
    assert.deepEqual(diff.open.map((r) => r.mappingId), [3]);
    assert.deepEqual(diff.update, []);
  });

  it('a moved port closes the old listener (and its connections) and opens the new one', () => {
    const diff = diffRoutes(table(route(1)), table(route(1, { listenPort: parsePort(20100) })));
    assert.deepEqual(diff.close, [1]);
    assert.deepEqual(diff.open.map((r) => r.listenPort), [20100]);
  });

  it('another proxy: the route is updated and the live connections are closed (no client left on the old exit IP)', () => {
    const next = route(1, { proxyId: 2, proxy: { protocol: 'http', host: '198.51.100.12', port: parsePort(8888) } });
    const diff = diffRoutes(table(route(1)), table(next));
    assert.deepEqual(diff.update, [{ route: next, closeConnections: true }]);
    assert.deepEqual([diff.open, diff.close], [[], []], 'the port stays open');
  });

  it('another proxy id with an equal endpoint still counts as another proxy', () => {
    const next = route(1, { proxyId: 2 });
    assert.deepEqual(diffRoutes(table(route(1)), table(next)).update, [{ route: next, closeConnections: true }]);
  });

  it('the same proxy with a changed endpoint or credentials closes the live connections', () => {
    const base = { protocol: 'socks5', host: '198.51.100.10', port: parsePort(1080), username: 'u', password: 'old' } as const;
    for (const change of [{ password: 'new' }, { username: 'v' }, { host: '198.51.100.11' }, { port: parsePort(1081) }, { protocol: 'http' as const }]) {
      const before = route(1, { proxy: base });
      const after = route(1, { proxy: { ...base, ...change } });
      assert.deepEqual(diffRoutes(table(before), table(after)).update, [{ route: after, closeConnections: true }], JSON.stringify(change));
    }
  });

  it('other mappings on the changed proxy are touched only through their own routes', () => {
    const moved = route(1, { proxyId: 2, proxy: { protocol: 'http', host: '198.51.100.12', port: parsePort(8888) } });
    const diff = diffRoutes(table(route(1), route(2)), table(moved, route(2)));
    assert.deepEqual(diff.update.map((u) => u.route.mappingId), [1]);
  });

  it('a client that becomes blocked gets its live connections closed (mapping disabled, proxy down)', () => {
    for (const blocked of ['mapping_disabled', 'proxy_down', 'proxy_unknown'] as const) {
      const diff = diffRoutes(table(route(1)), table(route(1, { blocked })));
      assert.deepEqual(diff.update.map((u) => [u.route.blocked, u.closeConnections]), [[blocked, true]]);
      assert.deepEqual(diff.close, [], 'the port stays open and refuses');
    }
  });

  it('an unblocked client needs nothing closed', () => {
    const diff = diffRoutes(table(route(1, { blocked: 'proxy_down' })), table(route(1)));
    assert.deepEqual(diff.update.map((u) => u.closeConnections), [false]);
  });

  it('a changed client address closes the old client\'s connections', () => {
    const diff = diffRoutes(table(route(1)), table(route(1, { clientIp: parseIpv4('192.168.2.99') })));
    assert.deepEqual(diff.update.map((u) => u.closeConnections), [true]);
  });

  it('a changed private-destination override reaches the listener (new connections follow it)', () => {
    const diff = diffRoutes(table(route(1)), table(route(1, { privateDestinations: 'allow' })));
    assert.deepEqual(diff.update.map((u) => [u.route.privateDestinations, u.closeConnections]), [['allow', false]]);
  });

  it('a learned handshake reaches the listener without closing live connections (same proxy, same endpoint)', () => {
    const diff = diffRoutes(table(route(1)), table(route(1, { handshake: 'pipelined' })));
    assert.deepEqual(diff.update.map((u) => [u.route.handshake, u.closeConnections]), [['pipelined', false]]);
  });

  it('keeps the proxy endpoint object when only another field changed (dialers cache per endpoint)', () => {
    const old = route(1);
    const next = route(1, { blocked: 'proxy_down' });
    const [update] = diffRoutes(table(old), table(next)).update;
    assert.equal(update?.route.proxy, old.proxy);
    assert.equal(update?.route.blocked, 'proxy_down');
  });

  it('two mappings swapping ports: both closed, then both opened', () => {
    const diff = diffRoutes(table(route(1), route(2)), table(route(1, { listenPort: parsePort(20002) }), route(2, { listenPort: parsePort(20001) })));
    assert.deepEqual(diff.close, [1, 2]);
    assert.deepEqual(diff.open.map((r) => [r.mappingId, r.listenPort]), [[1, 20002], [2, 20001]]);
  });
});
