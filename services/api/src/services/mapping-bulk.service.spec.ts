import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { DomainError } from '../logic/domain-errors.js';
import { ACTOR, FakeProber, FakePublisher, FakeStore } from '../../test/fake-store.js';
import { MappingBulkService } from './mapping-bulk.service.js';

let store: FakeStore;
let prober: FakeProber;
let publisher: FakePublisher;
let service: MappingBulkService;
let a: number;
let b: number;
let ids: number[];

beforeEach(async () => {
  store = new FakeStore();
  prober = new FakeProber();
  publisher = new FakePublisher();
  service = new MappingBulkService({ store, prober, publisher, probeWaitMarginMs: 5_000 });
  a = store.addProxy('a').id;
  b = store.addProxy('b').id;
  ids = [];
  for (let i = 0; i < 4; i++) ids.push((await store.mappings.insert({ clientIp: `192.168.2.${10 + i}`, proxyId: a, listenPort: 20000 + i, enabled: i < 3, description: '' })).id);
});

const fails = (kind: DomainError['kind'], field: string | undefined, message: RegExp) => (e: unknown) =>
  e instanceof DomainError && e.kind === kind && e.field === field && message.test(e.message);

test('assign: one probe of the new proxy, one audit row per mapping changed, one notice', async () => {
  await store.mappings.update(ids[1]!, { proxyId: b });
  const result = await service.run({ ids, action: 'assignProxy', proxyId: b }, ACTOR);
  assert.deepEqual(result, { action: 'assignProxy', changed: 3, unchanged: 1 });
  assert.deepEqual(prober.probed, [b]);
  assert.deepEqual(store.tables.mappings.map((m) => m.proxyId), [b, b, b, b]);
  assert.deepEqual(store.tables.audit.map((r) => [r.action, r.entityId]), [['update', ids[0]], ['update', ids[2]], ['update', ids[3]]]);
  assert.deepEqual(publisher.events, [{ type: 'mapping.changed', mappingId: null, action: 'updated' }]);
});

test('a proxy that fails its probe, or an unknown id, changes nothing and notifies no one', async () => {
  prober.results.set(b, { ok: false, error: 'connection refused' });
  await assert.rejects(service.run({ ids, action: 'assignProxy', proxyId: b }, ACTOR), fails('probe_failed', 'proxyId', /connection refused/));
  await assert.rejects(service.run({ ids: [...ids, 999], action: 'delete' }, ACTOR), fails('not_found', 'ids', /mapping 999 not found/));
  await assert.rejects(service.run({ ids, action: 'assignProxy', proxyId: 999 }, ACTOR), fails('not_found', 'proxyId', /proxy 999/));
  await assert.rejects(service.run({ ids, action: 'assignProxy' }, ACTOR), fails('invalid', 'proxyId', /choose the proxy/));
  assert.equal(store.tables.mappings.length, 4);
  assert.deepEqual(store.tables.mappings.map((m) => m.proxyId), [a, a, a, a]);
  assert.deepEqual([store.tables.audit.length, publisher.events.length], [0, 0]);
});

test('enable probes the proxies of the disabled rows only; disable needs no probe', async () => {
  assert.deepEqual(await service.run({ ids, action: 'enable' }, ACTOR), { action: 'enable', changed: 1, unchanged: 3 });
  assert.deepEqual(prober.probed, [a]);
  assert.deepEqual(await service.run({ ids: ids.slice(0, 2), action: 'disable' }, ACTOR), { action: 'disable', changed: 2, unchanged: 0 });
  assert.deepEqual(prober.probed, [a]);
  assert.deepEqual(store.tables.audit.map((r) => r.action), ['enable', 'disable', 'disable']);
});

test('tags: added once each, removed, and more than 16 refuses the whole batch', async () => {
  await service.run({ ids: ids.slice(0, 2), action: 'addTags', tags: ['floor-2', 'kiosk'] }, ACTOR);
  assert.deepEqual(await service.run({ ids, action: 'addTags', tags: ['floor-2'] }, ACTOR), { action: 'addTags', changed: 2, unchanged: 2 });
  assert.deepEqual(store.tables.mappings.map((m) => m.tags), [['floor-2', 'kiosk'], ['floor-2', 'kiosk'], ['floor-2'], ['floor-2']]);
  await service.run({ ids, action: 'removeTags', tags: ['kiosk'] }, ACTOR);
  assert.deepEqual(store.tables.mappings.map((m) => m.tags), [['floor-2'], ['floor-2'], ['floor-2'], ['floor-2']]);
  await store.mappings.update(ids[3]!, { tags: Array.from({ length: 16 }, (_, i) => `t${i}`) });
  const audits = store.tables.audit.length;
  await assert.rejects(service.run({ ids, action: 'addTags', tags: ['new'] }, ACTOR), fails('invalid', 'tags', /192\.168\.2\.13 would have more than 16 tags/));
  assert.deepEqual(store.tables.mappings[0]!.tags, ['floor-2'], 'rolled back');
  assert.equal(store.tables.audit.length, audits);
});

test('delete removes every listed mapping in one transaction with one notice', async () => {
  assert.deepEqual(await service.run({ ids: ids.slice(1), action: 'delete' }, ACTOR), { action: 'delete', changed: 3, unchanged: 0 });
  assert.deepEqual(store.tables.mappings.map((m) => m.id), [ids[0]]);
  assert.deepEqual(publisher.events, [{ type: 'mapping.changed', mappingId: null, action: 'deleted' }]);
});

test('assigning a mapping its only backup as primary leaves it fail-closed, not "backup" with none (which refused every later edit)', async () => {
  await store.mappings.update(ids[0]!, { failPolicy: 'backup', backupProxyIds: [b] });
  await service.run({ ids: [ids[0]!], action: 'assignProxy', proxyId: b }, ACTOR);
  const row = store.tables.mappings.find((m) => m.id === ids[0])!;
  assert.deepEqual([row.proxyId, row.failPolicy, row.backupProxyIds], [b, 'closed', []]);
});
