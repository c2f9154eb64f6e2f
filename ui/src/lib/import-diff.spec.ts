import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importRowChanges } from './import-diff.js';

const row = { clientIp: '192.168.2.20', proxyName: 'dante', listenPort: 20000, enabled: true, description: '', macAddress: null, tags: ['kiosk'] };

test('a tags-only change shows the stored and the file tags', () => {
  assert.deepEqual(importRowChanges(row, { ...row, tags: ['kiosk', 'lobby'] }), ['tags kiosk → kiosk lobby']);
  assert.deepEqual(importRowChanges(row, { ...row, tags: [] }), ['tags kiosk → —']);
  assert.deepEqual(importRowChanges({ ...row, tags: ['a', 'b'] }, { ...row, tags: ['b', 'a'] }), ['tags a b → b a'], 'order counts: the export keeps it');
});

test('other fields as before; equal rows show nothing', () => {
  assert.deepEqual(importRowChanges(row, { ...row, proxyName: 'squid', macAddress: '52:54:00:12:34:56' }), ['proxyName dante → squid', 'macAddress — → 52:54:00:12:34:56']);
  assert.deepEqual(importRowChanges(row, { ...row }), []);
});
