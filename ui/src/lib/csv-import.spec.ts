import assert from 'node:assert/strict';
import { test } from 'node:test';
import { previewMappingsCsv } from './csv-import.js';

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
