import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { DomainError } from '../logic/domain-errors.js';
import { ACTOR, FakeProber, FakePublisher, FakeStore } from '../../test/fake-store.js';
import { MappingService } from './mapping.service.js';
import { SettingsService } from './settings.service.js';

let store: FakeStore;
let publisher: FakePublisher;
let service: SettingsService;

beforeEach(async () => {
  store = new FakeStore();
  publisher = new FakePublisher();
  service = new SettingsService({ store, publisher, allowedNetworks: [] });
  const mappings = new MappingService({ store, prober: new FakeProber(), publisher: new FakePublisher(), probeWaitMarginMs: 0 });
  await mappings.create({ clientIp: '192.168.2.10', proxyId: store.addProxy('dante').id, listenPort: 21000 }, ACTOR);
});

test('change: stores, audits before and after, and notifies config.changed', async () => {
  const next = { ...store.tables.settings, healthIntervalS: 60 };
  assert.deepEqual(await service.change(next, ACTOR), next);
  assert.equal(store.tables.settings.healthIntervalS, 60);
  const entry = store.tables.audit.at(-1)!;
  assert.deepEqual([entry.entityType, (entry.before as { healthIntervalS: number }).healthIntervalS, (entry.after as { healthIntervalS: number }).healthIntervalS], ['settings', 30, 60]);
  assert.deepEqual(publisher.events, [{ type: 'config.changed' }]);
});

test('change: refused when a mapping would fall outside the LAN or the port range, and nothing changes', async () => {
  const before = store.tables.settings;
  await assert.rejects(service.change({ ...before, lanCidr: '10.0.0.0/24' }, ACTOR), (e: unknown) => e instanceof DomainError && e.kind === 'conflict' && e.field === 'lanCidr');
  await assert.rejects(service.change({ ...before, forwarderPortMax: 20999 }, ACTOR), (e: unknown) => e instanceof DomainError && e.kind === 'conflict' && e.field === 'forwarderPortMin');
  await assert.rejects(service.change({ ...before, forwarderPortMin: 80 }, ACTOR), (e: unknown) => e instanceof DomainError && e.kind === 'invalid' && e.field === 'forwarderPortMin');
  assert.deepEqual(store.tables.settings, before);
  assert.equal(publisher.events.length, 0);
});

test('change: a retention left out keeps its stored value, and the histories must stay in order against it', async () => {
  const before = { ...store.tables.settings, usageMinuteRetentionHours: 72, usageHourRetentionDays: 30, usageDayRetentionDays: 365 };
  await service.change(before, ACTOR);
  const { usageMinuteRetentionHours: _m, usageHourRetentionDays: _h, usageDayRetentionDays: _d, ...without } = before;
  await assert.rejects(service.change({ ...without, usageHourRetentionDays: 2 }, ACTOR), (e: unknown) => e instanceof DomainError && e.kind === 'invalid' && e.field === 'usageHourRetentionDays' && /72 hours/.test(e.message));
  await assert.rejects(service.change({ ...without, usageDayRetentionDays: 20 }, ACTOR), (e: unknown) => e instanceof DomainError && e.field === 'usageDayRetentionDays');
  assert.equal(store.tables.settings.usageHourRetentionDays, 30, 'a refused change stored something');
  assert.equal((await service.change({ ...without, usageHourRetentionDays: 3 }, ACTOR)).usageHourRetentionDays, 3);
});

test('change: a dnsUpstream no proxy may be asked for is refused naming dnsUpstream, and nothing changes', async () => {
  const before = store.tables.settings;
  for (const dnsUpstream of ['127.0.0.1', '192.168.2.53', '0.0.0.0', '224.0.0.1', 'resolver.example']) {
    await assert.rejects(
      service.change({ ...before, dnsMode: 'proxy', dnsUpstream }, ACTOR),
      (e: unknown) => e instanceof DomainError && e.kind === 'invalid' && e.field === 'dnsUpstream' && e.message.startsWith('dnsUpstream: '),
    );
  }
  assert.deepEqual(store.tables.settings, before);
  assert.equal(publisher.events.length, 0);
  assert.equal((await service.change({ ...before, dnsMode: 'proxy', dnsUpstream: '203.0.113.53' }, ACTOR)).dnsUpstream, '203.0.113.53');
});

test('change: answers and audits the stored settings, with the optional ones the change left out', async () => {
  await service.change({ ...store.tables.settings, dnsMode: 'proxy', dnsUpstream: '203.0.113.53', perClientMetrics: true }, ACTOR);
  const { dnsUpstream: _u, perClientMetrics: _p, ...without } = store.tables.settings;
  const answer = await service.change({ ...without, healthIntervalS: 45 }, ACTOR);
  assert.deepEqual([answer.healthIntervalS, answer.dnsUpstream, answer.perClientMetrics], [45, '203.0.113.53', true]);
  assert.deepEqual(store.tables.audit.at(-1)!.after, answer);
});

test('change: a new lanCidr that would take in the stored dnsUpstream is refused naming lanCidr, and nothing changes', async () => {
  await service.change({ ...store.tables.settings, dnsMode: 'proxy', dnsUpstream: '192.168.7.53' }, ACTOR);
  const before = store.tables.settings;
  const { dnsUpstream: _u, ...without } = before;
  // The mapping of the setup is at 192.168.2.10: a LAN that holds it and the resolver.
  await assert.rejects(
    service.change({ ...without, lanCidr: '192.168.0.0/16' }, ACTOR),
    (e: unknown) => e instanceof DomainError && e.kind === 'conflict' && e.field === 'lanCidr' && /192\.168\.7\.53/.test(e.message),
  );
  assert.deepEqual(store.tables.settings, before);
});
