import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { settingsSchema } from '@pgw/domain';
import { DomainError } from '../logic/domain-errors.js';
import { ACTOR, FakeProber, FakePublisher, FakeStore } from '../../test/fake-store.js';
import { MappingService } from './mapping.service.js';

let store: FakeStore;
let prober: FakeProber;
let publisher: FakePublisher;
let service: MappingService;
let dante: number;

beforeEach(() => {
  store = new FakeStore();
  prober = new FakeProber();
  publisher = new FakePublisher();
  service = new MappingService({ store, prober, publisher, probeWaitMarginMs: 5_000 });
  dante = store.addProxy('dante').id;
});

const fails = (kind: DomainError['kind'], field: string | undefined, message: RegExp) => (e: unknown) =>
  e instanceof DomainError && e.kind === kind && e.field === field && message.test(e.message);

test('create: probes the proxy once, takes the lowest free port, audits and notifies after the write', async () => {
  await service.create({ clientIp: '192.168.2.10', proxyId: dante, listenPort: 20000 }, ACTOR);
  const id = await service.create({ clientIp: '192.168.2.11', proxyId: dante, description: 'rig 2' }, ACTOR);
  const row = await store.mappings.find(id);
  assert.equal(row?.listenPort, 20001);
  assert.equal(row?.enabled, true);
  assert.deepEqual(prober.probed, [dante, dante]);
  assert.equal(store.tables.locks, 2, 'every port is placed under the listen-port lock');
  assert.deepEqual(store.tables.audit.map((a) => [a.action, a.entityId, a.actor.username]), [['create', 1 + dante, 'admin'], ['create', id, 'admin']]);
  assert.deepEqual(publisher.events.at(-1), { type: 'mapping.changed', mappingId: id, action: 'created' });
});

test('create: a proxy that fails its probe stores nothing and notifies no one', async () => {
  prober.results.set(dante, { ok: false, error: 'connection refused' });
  await assert.rejects(service.create({ clientIp: '192.168.2.10', proxyId: dante }, ACTOR), fails('probe_failed', 'proxyId', /dante.*connection refused/));
  assert.equal(store.tables.mappings.length, 0);
  assert.equal(store.tables.audit.length, 0);
  assert.equal(publisher.events.length, 0);
});

test('create: refusals name the field at fault and are checked before any probe', async () => {
  await service.create({ clientIp: '192.168.2.10', proxyId: dante, listenPort: 20000 }, ACTOR);
  prober.probed.length = 0;
  await assert.rejects(service.create({ clientIp: '192.168.2.10', proxyId: dante }, ACTOR), fails('conflict', 'clientIp', /already has a mapping/));
  await assert.rejects(service.create({ clientIp: '192.168.2.11', proxyId: dante, listenPort: 20000 }, ACTOR), fails('conflict', 'listenPort', /mapping of 192\.168\.2\.10/));
  await assert.rejects(service.create({ clientIp: '10.0.0.1', proxyId: dante }, ACTOR), fails('invalid', 'clientIp', /not inside the LAN/));
  await assert.rejects(service.create({ clientIp: '192.168.2.12', proxyId: 999 }, ACTOR), fails('not_found', 'proxyId', /proxy 999/));
  await assert.rejects(service.create({ clientIp: '192.168.2.12', proxyId: dante, listenPort: 80 }, ACTOR), fails('invalid', 'listenPort', /outside the forwarder port range/));
  assert.deepEqual(prober.probed, []);
});

test('create: a full port range is a conflict that names no field', async () => {
  store.tables.settings = settingsSchema.parse({ ...store.tables.settings, forwarderPortMin: 20000, forwarderPortMax: 20000 });
  await service.create({ clientIp: '192.168.2.10', proxyId: dante }, ACTOR);
  await assert.rejects(service.create({ clientIp: '192.168.2.11', proxyId: dante }, ACTOR), fails('conflict', undefined, /no free forwarder port left in 20000-20000/));
  assert.equal(store.tables.mappings.length, 1);
});

test('create: loads the settings and the proxy once before its probe and once in its write (the settings locked)', async () => {
  let settingsLoads = 0;
  let proxyFinds = 0;
  const load = store.settings.load;
  const find = store.proxies.find;
  store.settings.load = () => (settingsLoads++, load());
  (store.proxies as { find: typeof find }).find = (...args) => (proxyFinds++, find(...args));
  await service.create({ clientIp: '192.168.2.10', proxyId: dante }, ACTOR);
  assert.deepEqual({ settingsLoads, proxyFinds }, { settingsLoads: 2, proxyFinds: 2 });
});

test('edit: a description or a disable needs no probe; a re-enable or a move does', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: dante }, ACTOR);
  const squid = store.addProxy('squid').id;
  prober.probed.length = 0;
  await service.edit(id, { description: 'lab phone' }, 'update', ACTOR);
  await service.edit(id, { enabled: false }, 'disable', ACTOR);
  assert.deepEqual(prober.probed, []);
  await service.edit(id, { enabled: true }, 'enable', ACTOR);
  await service.edit(id, { proxyId: squid }, 'update', ACTOR);
  assert.deepEqual(prober.probed, [dante, squid]);
  const row = await store.mappings.find(id);
  assert.deepEqual([row?.description, row?.enabled, row?.proxyId, row?.listenPort], ['lab phone', true, squid, 20000]);
  assert.deepEqual(store.tables.audit.slice(1).map((a) => a.action), ['update', 'disable', 'enable', 'update']);
  assert.equal(publisher.events.filter((e) => e.type === 'mapping.changed' && e.action === 'updated').length, 4);
});

test('edit: refused, nothing written, when another edit during its probe left the row needing a probe of another proxy', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: dante }, ACTOR);
  const squid = store.addProxy('squid').id;
  await service.edit(id, { enabled: false }, 'disable', ACTOR);
  // While the re-enable probes dante, another admin moves the disabled mapping to squid (no probe needed for that).
  let meanwhile: (() => Promise<void>) | null = () => service.edit(id, { proxyId: squid }, 'update', ACTOR);
  const probe = prober.probe.bind(prober);
  prober.probe = async (proxyId) => {
    const other = meanwhile;
    meanwhile = null;
    await other?.();
    return probe(proxyId);
  };
  await assert.rejects(service.edit(id, { enabled: true }, 'enable', ACTOR), fails('conflict', undefined, /changed by another edit while this one waited/));
  const row = await store.mappings.find(id);
  assert.deepEqual([row?.enabled, row?.proxyId], [false, squid], 'not enabled through squid, which no probe passed');
  assert.deepEqual(store.tables.audit.slice(1).map((a) => a.action), ['disable', 'update']);
});

test('edit: a MAC pin is normalised, null unpins, and an unknown mapping is not found', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: dante }, ACTOR);
  await service.edit(id, { macAddress: '02-AA-BB-CC-DD-EE' }, 'update', ACTOR);
  assert.equal((await store.mappings.find(id))?.macAddress, '02:aa:bb:cc:dd:ee');
  await service.edit(id, { macAddress: null }, 'update', ACTOR);
  assert.equal((await store.mappings.find(id))?.macAddress, null);
  await assert.rejects(service.edit(999, { description: 'x' }, 'update', ACTOR), fails('not_found', undefined, /mapping 999/));
});

test('remove: deletes with an audit row of what was there, then notifies', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: dante }, ACTOR);
  await service.remove(id, ACTOR);
  assert.equal(store.tables.mappings.length, 0);
  const entry = store.tables.audit.at(-1)!;
  assert.deepEqual([entry.action, (entry.before as { clientIp: string }).clientIp, entry.after], ['delete', '192.168.2.10', null]);
  assert.deepEqual(publisher.events.at(-1), { type: 'mapping.changed', mappingId: id, action: 'deleted' });
  await assert.rejects(service.remove(id, ACTOR), fails('not_found', undefined, /mapping/));
});

test('limits and quota: unlimited by default, stored as sent, kept when absent from an edit, lifted with null; no probe for them', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: dante }, ACTOR);
  assert.deepEqual(pick(await store.mappings.find(id)), { rateDownKbit: null, rateUpKbit: null, quotaBytes: null, quotaEpoch: 0 });
  prober.probed.length = 0;
  await service.edit(id, { rateDownKbit: 50_000, rateUpKbit: 20_000, quotaBytes: 10_000_000 }, 'update', ACTOR);
  assert.deepEqual(pick(await store.mappings.find(id)), { rateDownKbit: 50_000, rateUpKbit: 20_000, quotaBytes: '10000000', quotaEpoch: 0 });
  await service.edit(id, { description: 'rig' }, 'update', ACTOR);
  assert.equal((await store.mappings.find(id))?.rateDownKbit, 50_000);
  await service.edit(id, { rateUpKbit: null, quotaBytes: null }, 'update', ACTOR);
  assert.deepEqual(pick(await store.mappings.find(id)), { rateDownKbit: 50_000, rateUpKbit: null, quotaBytes: null, quotaEpoch: 0 });
  assert.deepEqual(prober.probed, [], 'a limit changes no route: no health gate');
  assert.deepEqual(store.tables.audit.at(-1)?.after, { ...(store.tables.audit.at(-1)?.after as object), rateDownKbit: 50_000, rateUpKbit: null, quotaBytes: null, quotaEpoch: 0 });
});

test('limits and quota: out-of-bounds values are refused naming the field, and nothing changes', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: dante, rateDownKbit: 1000 }, ACTOR);
  const audits = store.tables.audit.length;
  await assert.rejects(service.edit(id, { rateDownKbit: 63 }, 'update', ACTOR), fails('invalid', 'rateDownKbit', /rateDownKbit 63 must be at least 64 kbit\/s/));
  await assert.rejects(service.edit(id, { rateUpKbit: 10_000_001 }, 'update', ACTOR), fails('invalid', 'rateUpKbit', /at most 10000000 kbit\/s/));
  await assert.rejects(service.edit(id, { rateUpKbit: 100.5 }, 'update', ACTOR), fails('invalid', 'rateUpKbit', /whole number/));
  await assert.rejects(service.edit(id, { quotaBytes: 999_999 }, 'update', ACTOR), fails('invalid', 'quotaBytes', /at least 1000000 bytes/));
  await assert.rejects(service.create({ clientIp: '192.168.2.11', proxyId: dante, quotaBytes: 2e15 }, ACTOR), fails('invalid', 'quotaBytes', /at most/));
  assert.equal((await store.mappings.find(id))?.rateDownKbit, 1000);
  assert.equal(store.tables.mappings.length, 1);
  assert.equal(store.tables.audit.length, audits);
});

test('quota reset: raises the epoch, audits quota_reset and announces the change; without a quota 409 and nothing changes', async () => {
  const id = await service.create({ clientIp: '192.168.2.10', proxyId: dante, quotaBytes: 10_000_000 }, ACTOR);
  await service.resetQuota(id, ACTOR);
  await service.resetQuota(id, ACTOR);
  assert.equal((await store.mappings.find(id))?.quotaEpoch, 2);
  const audit = store.tables.audit.at(-1)!;
  assert.equal(audit.action, 'quota_reset');
  assert.deepEqual([(audit.before as { quotaEpoch: number }).quotaEpoch, (audit.after as { quotaEpoch: number }).quotaEpoch], [1, 2]);
  assert.deepEqual(publisher.events.at(-1), { type: 'mapping.changed', mappingId: id, action: 'updated' });

  const unlimited = await service.create({ clientIp: '192.168.2.11', proxyId: dante }, ACTOR);
  const [audits, events] = [store.tables.audit.length, publisher.events.length];
  await assert.rejects(service.resetQuota(unlimited, ACTOR), fails('conflict', 'quotaBytes', /192\.168\.2\.11 has no quota/));
  await assert.rejects(service.resetQuota(999, ACTOR), fails('not_found', undefined, /mapping 999/));
  assert.equal((await store.mappings.find(unlimited))?.quotaEpoch, 0);
  assert.deepEqual([store.tables.audit.length, publisher.events.length], [audits, events]);
});

const pick = (row: { rateDownKbit: number | null; rateUpKbit: number | null; quotaBytes: string | null; quotaEpoch: number } | undefined) =>
  row && { rateDownKbit: row.rateDownKbit, rateUpKbit: row.rateUpKbit, quotaBytes: row.quotaBytes, quotaEpoch: row.quotaEpoch };
