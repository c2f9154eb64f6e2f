// Fail policy and backup proxies through the mapping service (issue 17): validated, stored, audited.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { DomainError } from '../logic/domain-errors.js';
import { ACTOR, FakeProber, FakePublisher, FakeStore } from '../../test/fake-store.js';
import { MappingService } from './mapping.service.js';

let store: FakeStore;
let service: MappingService;
let primary: number;
let b1: number;
let b2: number;

beforeEach(() => {
  store = new FakeStore();
  service = new MappingService({ store, prober: new FakeProber(), publisher: new FakePublisher(), probeWaitMarginMs: 5_000 });
  [primary, b1, b2] = ['dante', 'squid', 'tinyproxy'].map((name) => store.addProxy(name).id) as [number, number, number];
});

const fails = (kind: DomainError['kind'], field: string | undefined, message: RegExp) => (e: unknown) =>
  e instanceof DomainError && e.kind === kind && e.field === field && message.test(e.message);

test('a new mapping is fail-closed with no backups unless told', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: primary }, ACTOR);
  const row = await store.mappings.find(id);
  assert.deepEqual([row?.failPolicy, row?.backupProxyIds], ['closed', []]);
});

test('backup with an ordered list: stored in that order and audited', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: primary, failPolicy: 'backup', backupProxyIds: [b2, b1] }, ACTOR);
  assert.deepEqual((await store.mappings.find(id))?.backupProxyIds, [b2, b1]);
  const audit = store.tables.audit.at(-1)!;
  assert.deepEqual([(audit.after as { failPolicy: string }).failPolicy, (audit.after as { backupProxyIds: number[] }).backupProxyIds], ['backup', [b2, b1]]);
});

test('refuses, naming backupProxyIds and storing nothing: unknown proxy, repeat, own proxy, more than 8, backup without a list', async () => {
  const create = (extra: object) => service.create({ clientIp: '192.168.2.10', proxyId: primary, failPolicy: 'backup', ...extra }, ACTOR);
  await assert.rejects(create({ backupProxyIds: [b1, 999] }), fails('not_found', 'backupProxyIds', /backup proxy 999/));
  await assert.rejects(create({ backupProxyIds: [b1, b1] }), fails('invalid', 'backupProxyIds', /listed twice/));
  await assert.rejects(create({ backupProxyIds: [primary] }), fails('invalid', 'backupProxyIds', /own proxy/));
  await assert.rejects(create({ backupProxyIds: [1, 2, 3, 4, 5, 6, 7, 8, 9] }), fails('invalid', 'backupProxyIds', /at most 8/));
  await assert.rejects(create({ backupProxyIds: [] }), fails('invalid', 'backupProxyIds', /at least one/));
  await assert.rejects(create({}), fails('invalid', 'backupProxyIds', /at least one/));
  assert.equal(store.tables.mappings.length, 0);
});

test('an edit keeps what it leaves out; a backup promoted to primary leaves the list', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: primary, failPolicy: 'backup', backupProxyIds: [b1, b2] }, ACTOR);
  await service.edit(id, { description: 'desk' }, 'update', ACTOR);
  assert.deepEqual((await store.mappings.find(id))?.backupProxyIds, [b1, b2]);
  await service.edit(id, { proxyId: b1 }, 'update', ACTOR);
  const row = await store.mappings.find(id);
  assert.deepEqual([row?.proxyId, row?.failPolicy, row?.backupProxyIds], [b1, 'backup', [b2]]);
  await service.edit(id, { failPolicy: 'closed' }, 'update', ACTOR);
  assert.deepEqual([(await store.mappings.find(id))?.failPolicy, (await store.mappings.find(id))?.backupProxyIds], ['closed', [b2]]);
});

test('a proxy used only as a backup counts as in use', async () => {
  await service.create({ clientIp: '192.168.2.10', proxyId: primary, failPolicy: 'backup', backupProxyIds: [b2] }, ACTOR);
  assert.equal(await store.mappings.countForProxy(b2), 1);
  assert.equal(await store.mappings.countForProxy(b1), 0);
});
