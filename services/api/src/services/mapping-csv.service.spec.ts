import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { DomainError } from '../logic/domain-errors.js';
import { ACTOR, FakeProber, FakePublisher, FakeStore } from '../../test/fake-store.js';
import { MappingCsvService } from './mapping-csv.service.js';

let store: FakeStore;
let prober: FakeProber;
let publisher: FakePublisher;
let service: MappingCsvService;

beforeEach(() => {
  store = new FakeStore();
  prober = new FakeProber();
  publisher = new FakePublisher();
  service = new MappingCsvService({ store, prober, publisher, probeWaitMarginMs: 5_000 });
  store.addProxy('dante');
  store.addProxy('squid');
});

const FILE = 'client_ip,proxy_name,listen_port,enabled,description\n192.168.2.10,dante,,true,a\n192.168.2.11,dante,,true,b\n192.168.2.12,squid,20500,false,c\n';

test('import: probes each proxy an enabled row uses once, writes all rows with audit rows, notifies once', async () => {
  assert.deepEqual(await service.importCsv(FILE, ACTOR), { created: 3, updated: 0, unchanged: 0 });
  assert.deepEqual(prober.probed, [1], 'squid is only used by a disabled row');
  assert.deepEqual(store.tables.mappings.map((m) => [m.clientIp, m.listenPort]), [['192.168.2.10', 20000], ['192.168.2.11', 20001], ['192.168.2.12', 20500]]);
  assert.deepEqual(store.tables.audit.map((a) => a.action), ['import', 'import', 'import']);
  assert.deepEqual(publisher.events, [{ type: 'mapping.changed', mappingId: null, action: 'imported' }]);
});

test('import: the same file again changes nothing, probes nothing and notifies no one', async () => {
  await service.importCsv(FILE, ACTOR);
  prober.probed.length = 0;
  assert.deepEqual(await service.importCsv(await service.exportCsv(), ACTOR), { created: 0, updated: 0, unchanged: 3 });
  assert.deepEqual(prober.probed, []);
  assert.equal(publisher.events.length, 1);
});

test('import: a failed probe or a bad row writes nothing', async () => {
  prober.results.set(1, { ok: false, error: 'timeout' });
  await assert.rejects(service.importCsv(FILE, ACTOR), (e: unknown) => e instanceof DomainError && e.kind === 'probe_failed');
  prober.results.clear();
  await assert.rejects(service.importCsv(`${FILE}192.168.2.13,nosuch,,true,d\n`, ACTOR), (e: unknown) => e instanceof DomainError && e.kind === 'invalid' && e.field === 'proxy_name');
  assert.equal(store.tables.mappings.length, 0);
  assert.equal(store.tables.audit.length, 0);
  assert.equal(publisher.events.length, 0);
});

test('import: a row another admin changed during the probes, which now needs a probe of a proxy not probed, is refused and nothing is written', async () => {
  await service.importCsv(FILE, ACTOR);
  // The file enables 192.168.2.10 on dante as it is (nothing to probe) and moves 192.168.2.12 to
  // squid, enabled (squid probed). While squid is probed, another admin disables 192.168.2.10: the
  // import would now enable it on dante, which it did not probe.
  prober.meanwhile.set(2, () => void (store.tables.mappings.find((m) => m.clientIp === '192.168.2.10')!.enabled = false));
  const file = FILE.replace('192.168.2.12,squid,20500,false,c', '192.168.2.12,squid,20500,true,c');
  const audited = store.tables.audit.length;
  await assert.rejects(service.importCsv(file, ACTOR), (e: unknown) => e instanceof DomainError && e.kind === 'conflict' && /192\.168\.2\.10/.test(e.message));
  assert.equal(store.tables.mappings.find((m) => m.clientIp === '192.168.2.10')!.enabled, false, 'left as the other admin saved it');
  assert.equal(store.tables.mappings.find((m) => m.clientIp === '192.168.2.12')!.enabled, false, 'nothing of the import written');
  assert.equal(store.tables.audit.length, audited);
});

test('import: another admin\'s edit during the probes that needs no probe (a description) does not refuse it', async () => {
  await service.importCsv(FILE, ACTOR);
  prober.meanwhile.set(2, () => void (store.tables.mappings.find((m) => m.clientIp === '192.168.2.10')!.description = 'edited meanwhile'));
  const file = FILE.replace('192.168.2.12,squid,20500,false,c', '192.168.2.12,squid,20500,true,c');
  assert.deepEqual(await service.importCsv(file, ACTOR), { created: 0, updated: 2, unchanged: 1 });
  assert.equal(store.tables.mappings.find((m) => m.clientIp === '192.168.2.12')!.enabled, true);
});

test('export: one row per mapping with the proxy name, formula cells defused', async () => {
  await service.importCsv('client_ip,proxy_name,description\n192.168.2.10,dante,=cmd()\n', ACTOR);
  assert.equal(await service.exportCsv(), "client_ip,proxy_name,listen_port,enabled,description,mac_address,rate_down_kbit,rate_up_kbit,quota_bytes,tags\r\n192.168.2.10,dante,20000,true,'=cmd(),,,,,\r\n");
});
