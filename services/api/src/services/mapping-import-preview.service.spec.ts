import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { formatCsv } from '@pgw/domain/csv';
import { EXPORT_COLUMNS } from '../logic/mapping-import.js';
import { FakeStore } from '../../test/fake-store.js';
import { MappingImportPreviewService } from './mapping-import-preview.service.js';

let store: FakeStore;
let service: MappingImportPreviewService;

beforeEach(async () => {
  store = new FakeStore();
  service = new MappingImportPreviewService({ store });
  const a = store.addProxy('a').id;
  store.addProxy('b');
  await store.mappings.insert({ clientIp: '192.168.2.10', proxyId: a, listenPort: 20000, enabled: true, description: 'desk' });
  await store.mappings.insert({ clientIp: '192.168.2.11', proxyId: a, listenPort: 20001, enabled: true, description: 'rig' });
});

/** A file of every column: the cells a row leaves out are empty (no limit, no tags). */
const csv = (rows: (string | number | boolean)[][]) => formatCsv(EXPORT_COLUMNS, rows.map((row) => [...row, ...Array<string>(EXPORT_COLUMNS.length - row.length).fill('')]));

test('lists what the import would add and change (with the stored values), counts the unchanged, writes nothing', async () => {
  const before = structuredClone(store.tables.mappings);
  const preview = await service.preview(csv([['192.168.2.10', 'a', 20000, true, 'desk', ''], ['192.168.2.11', 'b', 20001, true, 'rig', ''], ['192.168.2.12', 'a', 20002, false, 'new', '52:54:00:12:34:56']]));
  assert.equal(preview.unchanged, 1);
  assert.deepEqual(preview.changed, [{ line: 3, before: { clientIp: '192.168.2.11', proxyName: 'a', listenPort: 20001, enabled: true, description: 'rig', macAddress: null, tags: [] }, after: { clientIp: '192.168.2.11', proxyName: 'b', listenPort: 20001, enabled: true, description: 'rig', macAddress: null, tags: [] } }]);
  assert.deepEqual(preview.added, [{ line: 4, before: null, after: { clientIp: '192.168.2.12', proxyName: 'a', listenPort: 20002, enabled: false, description: 'new', macAddress: '52:54:00:12:34:56', tags: [] } }]);
  assert.deepEqual(preview.rejected, []);
  assert.deepEqual(store.tables.mappings, before);
  assert.equal(store.tables.audit.length, 0);
});

test('a file with bad rows lists every rejected row with its line, column and reason', async () => {
  const preview = await service.preview(csv([['192.168.2.10', 'nope', 20000, true, '', ''], ['10.0.0.1', 'a', '', true, '', ''], ['192.168.2.12', 'a', '', true, '', '']]));
  assert.deepEqual([preview.added, preview.changed, preview.unchanged], [[], [], 0]);
  assert.deepEqual(preview.rejected.map((r) => [r.line, r.field]), [[2, 'proxy_name'], [3, 'client_ip']]);
  assert.match(preview.rejected[0]!.reason, /nope/);
});

test('a file of many bad rows lists the first 100 and says how many there are', async () => {
  const preview = await service.preview(csv(Array.from({ length: 150 }, (_, i) => [`10.9.${Math.floor(i / 200)}.${i % 200}`, 'a', '', true, '', ''])));
  assert.equal(preview.rejected.length, 100);
  assert.equal(preview.rejectedTotal, 150);
  assert.deepEqual(preview.rejected[0], { line: 2, field: 'client_ip', reason: preview.rejected[0]!.reason });
});
