import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importSummary, previewMappingsCsv } from './csv-import.js';

test('counts the rows of a valid export-shaped file', () => {
  const csv = 'client_ip,proxy_name,listen_port,enabled,description\n192.168.2.10,a,20000,true,"x, y"\n192.168.2.11,b,,true,\n';
  assert.deepEqual(previewMappingsCsv(csv), { rows: 2, columns: ['client_ip', 'proxy_name', 'listen_port', 'enabled', 'description'] });
});

test('names what is wrong with a bad file', () => {
  assert.throws(() => previewMappingsCsv(''), /line 1: the file is empty/);
  assert.throws(() => previewMappingsCsv('ip,proxy_name\n1,2\n'), /no client_ip column/);
  assert.throws(() => previewMappingsCsv('client_ip,listen_port\n1,2\n'), /proxy_name or proxy_id/);
  assert.throws(() => previewMappingsCsv('client_ip,proxy_id\n192.168.2.10\n'), /line 2: has 1 fields, the header has 2/);
  assert.throws(() => previewMappingsCsv('client_ip,proxy_id\n'), /no mapping rows/);
});

test('the import summary counts unchanged rows and says when nothing needs applying', () => {
  assert.equal(importSummary(3, 'm.csv', { created: 0, updated: 0, unchanged: 3 }), 'Imported 3 rows from m.csv: 0 created, 0 updated, 3 unchanged; nothing to apply.');
  assert.equal(importSummary(1, 'm.csv', { created: 0, updated: 1, unchanged: 0 }), 'Imported 1 row from m.csv: 0 created, 1 updated, 0 unchanged (health gate passed).');
});
