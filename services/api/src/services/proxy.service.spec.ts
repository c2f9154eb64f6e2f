import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { beforeEach, test } from 'node:test';
import { decryptSecret, PasswordSealer, sealingPublicKey } from '@pgw/crypto';
import { DomainError } from '../logic/domain-errors.js';
import { ACTOR, FakeProber, FakePublisher, FakeStore } from '../../test/fake-store.js';
import { MappingService } from './mapping.service.js';
import { ProxyService } from './proxy.service.js';

const secretKey = randomBytes(32);
const sealer = new PasswordSealer(sealingPublicKey(secretKey));
let store: FakeStore;
let publisher: FakePublisher;
let service: ProxyService;

beforeEach(() => {
  store = new FakeStore();
  publisher = new FakePublisher();
  service = new ProxyService({ store, prober: new FakeProber(), publisher, sealer, allowedNetworks: [], probeWaitMarginMs: 5_000 });
});

const fails = (kind: DomainError['kind'], field: string | undefined, message: RegExp) => (e: unknown) =>
  e instanceof DomainError && e.kind === kind && e.field === field && message.test(e.message);

test('create: the password is sealed, never returned and never audited', async () => {
  const proxy = await service.create({ name: 'dante', url: 'socks5://user:s3cret@198.51.100.10:1080' }, ACTOR);
  assert.deepEqual([proxy.protocol, proxy.host, proxy.port, proxy.username, proxy.hasPassword, proxy.mappingCount], ['socks5', '198.51.100.10', 1080, 'user', true, 0]);
  assert.ok(!JSON.stringify(proxy).includes('s3cret'));
  const stored = store.tables.proxies[0]!;
  assert.equal(decryptSecret(stored.passwordEnc!, secretKey), 's3cret');
  assert.ok(!JSON.stringify(store.tables.audit).includes('s3cret'));
  assert.deepEqual(publisher.events, [{ type: 'proxy.changed', proxyId: proxy.id, action: 'created' }]);
});

test('create: a taken name, a LAN host or a password without user is refused naming the field', async () => {
  await service.create({ name: 'dante', protocol: 'socks5', host: '198.51.100.10', port: 1080 }, ACTOR);
  await assert.rejects(service.create({ name: 'dante', protocol: 'http', host: '198.51.100.11', port: 3128 }, ACTOR), fails('conflict', 'name', /already exists/));
  await assert.rejects(service.create({ name: 'lan', protocol: 'http', host: '192.168.2.50', port: 3128 }, ACTOR), fails('invalid', 'host', /host/));
  await assert.rejects(service.create({ name: 'p', protocol: 'http', host: '198.51.100.11', port: 3128, password: 'x' }, ACTOR), fails('invalid', 'password', /needs a username/));
  assert.equal(store.tables.proxies.length, 1);
});

test('update: clearing the username while a password stays is a conflict; the name may be kept', async () => {
  const proxy = await service.create({ name: 'dante', url: 'socks5://user:pw@198.51.100.10:1080' }, ACTOR);
  await assert.rejects(service.update(proxy.id, { username: null }, ACTOR), fails('conflict', 'password', /needs a username/));
  // A move keeps a stored password only when it is given again (it goes only where it was saved for).
  await assert.rejects(service.update(proxy.id, { name: 'dante', port: 1081 }, ACTOR), fails('conflict', 'password', /the proxy moves \(port\)/));
  const updated = await service.update(proxy.id, { name: 'dante', port: 1081, password: 'pw' }, ACTOR);
  assert.deepEqual([updated.port, updated.status], [1081, 'unknown']);
  assert.deepEqual(store.tables.audit.map((a) => a.action), ['create', 'update']);
});

test('remove: refused while a mapping uses the proxy, with the count', async () => {
  const proxy = await service.create({ name: 'dante', protocol: 'socks5', host: '198.51.100.10', port: 1080 }, ACTOR);
  const mappings = new MappingService({ store, prober: new FakeProber(), publisher, probeWaitMarginMs: 0 });
  const id = await mappings.create({ clientIp: '192.168.2.10', proxyId: proxy.id }, ACTOR);
  await assert.rejects(service.remove(proxy.id, ACTOR), (e: unknown) => fails('conflict', undefined, /used by 1 mapping/)(e) && (e as DomainError).details !== undefined);
  await mappings.remove(id, ACTOR);
  await service.remove(proxy.id, ACTOR);
  assert.equal(store.tables.proxies.length, 0);
  assert.deepEqual(publisher.events.at(-1), { type: 'proxy.changed', proxyId: proxy.id, action: 'deleted' });
});

test('check: asks the health service with the settings probe timeout plus the margin', async () => {
  const calls: number[] = [];
  const prober = { probe: async (proxyId: number, timeoutMs: number) => (calls.push(timeoutMs), new FakeProber().probe(proxyId)) };
  service = new ProxyService({ store, prober, publisher, sealer, allowedNetworks: [], probeWaitMarginMs: 5_000 });
  const proxy = await service.create({ name: 'dante', protocol: 'socks5', host: '198.51.100.10', port: 1080 }, ACTOR);
  assert.equal((await service.check(proxy.id, ACTOR)).ok, true);
  assert.deepEqual(calls, [store.tables.settings.probeTimeoutMs + 5_000]);
  await assert.rejects(service.check(999, ACTOR), fails('not_found', undefined, /proxy 999/));
});
