import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Mapping } from '../api/types.js';
import { idsByTag, idsInCidr } from './bulk-select.js';

const rows = [
  { id: 1, clientIp: '192.168.2.10', tags: ['floor-2'] },
  { id: 2, clientIp: '192.168.2.100', tags: ['floor-2', 'kiosk'] },
  { id: 3, clientIp: '192.168.2.130', tags: [] },
] as unknown as Mapping[];

test('by tag: exact tag, over every mapping; a tag in another spelling is explained', () => {
  assert.deepEqual(idsByTag(rows, 'floor-2'), [1, 2]);
  assert.deepEqual(idsByTag(rows, ' kiosk '), [2]);
  assert.deepEqual(idsByTag(rows, 'floor'), []);
  assert.match(idsByTag(rows, 'Floor 2') as string, /lower-case/);
});

test('by CIDR: a network or one address; host bits set are explained', () => {
  assert.deepEqual(idsInCidr(rows, '192.168.2.0/25'), [1, 2]);
  assert.deepEqual(idsInCidr(rows, '192.168.2.128/25'), [3]);
  assert.deepEqual(idsInCidr(rows, '192.168.2.10'), [1]);
  assert.match(idsInCidr(rows, '192.168.2.1/24') as string, /host bits zero/);
});
