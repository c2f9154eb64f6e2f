import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import type { AgentStatus } from '@pgw/events';
import { DomainError } from '../logic/domain-errors.js';
import { ACTOR, FakeProber, FakePublisher, FakeStore } from '../../test/fake-store.js';
import { MappingQueryService } from './mapping-query.service.js';
import { MappingService } from './mapping.service.js';
import { ReadCache } from './read-cache.js';
import type { UdpDrops } from '../logic/udp-drops.js';

let store: FakeStore;
let agent: AgentStatus | null;
let udpDrops: UdpDrops;
let reads: number;
let queries: MappingQueryService;
let ids: number[];

beforeEach(async () => {
  store = new FakeStore();
  const writes = new MappingService({ store, prober: new FakeProber(), publisher: new FakePublisher(), probeWaitMarginMs: 0 });
  const dante = store.addProxy('dante').id;
  ids = [];
  for (const host of [10, 11, 12]) ids.push(await writes.create({ clientIp: `192.168.2.${host}`, proxyId: dante }, ACTOR));
  agent = { ok: true, at: new Date(Date.now() + 60_000), durationMs: 3, appliedMappings: 2, blocked: { '192.168.2.11': 'proxy_down' }, rejected: [], refusals: [], error: null };
  udpDrops = new Map();
  reads = 0;
  queries = new MappingQueryService({ mappings: store.mappings, gateway: async () => (reads++, { agent, udpDrops }), cache: new ReadCache(100) });
});

test('a page carries each mapping with what the agent really does for its client', async () => {
  const page = await queries.page({}, 2, 0);
  assert.deepEqual([page.total, page.limit, page.offset, page.items.length], [3, 2, 0, 2]);
  assert.deepEqual(page.items.map((m) => [m.clientIp, m.effective.state, m.effective.reason]), [['192.168.2.10', 'effective', null], ['192.168.2.11', 'blocked', 'proxy_down']]);
});

test('a state filter is applied after the state is computed, then paged', async () => {
  const blocked = await queries.page({}, 10, 0, 'blocked');
  assert.deepEqual([blocked.total, blocked.items.map((m) => m.clientIp)], [1, ['192.168.2.11']]);
  agent = null;
  const unknown = await queries.page({ q: '192.168.2.1' }, 1, 1, 'not_applied');
  assert.deepEqual([unknown.total, unknown.items.map((m) => [m.clientIp, m.effective.reason])], [3, [['192.168.2.11', 'agent_unavailable']]]);
});

test('the same page within the max age is served from the cache; a single mapping never is', async () => {
  await queries.page({}, 100, 0);
  await queries.page({}, 100, 0);
  assert.equal(reads, 1);
  await queries.one(ids[0]!);
  await queries.one(ids[0]!);
  assert.equal(reads, 3);
  await assert.rejects(queries.one(999), (e: unknown) => e instanceof DomainError && e.kind === 'not_found');
});

test('each mapping carries why its client’s UDP is dropped, from the gateway’s view; null for the others', async () => {
  udpDrops = new Map([[ids[1]!, { reason: 'proxy_without_udp', detail: 'http proxies carry no UDP', datagrams: 4 }]]);
  const page = await queries.page({}, 10, 0);
  assert.deepEqual(page.items.map((m) => [m.clientIp, m.udpDropped]), [
    ['192.168.2.10', null],
    ['192.168.2.11', { reason: 'proxy_without_udp', detail: 'http proxies carry no UDP', datagrams: 4 }],
    ['192.168.2.12', null],
  ]);
  assert.deepEqual((await queries.one(ids[1]!)).udpDropped?.reason, 'proxy_without_udp');
});
