import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditEntry } from '../api/types.js';
import { auditSearchCanGrow, mergeNewerAuditRows } from './audit-live.js';

const row = (id: number): AuditEntry => ({ id: String(id), at: '2026-01-01T00:00:00Z', actorUserId: null, actorUsername: 'alice', sourceIp: null, userAgent: null, action: 'update', entityType: 'mapping', entityId: '1', before: null, after: null, requestId: null });

test('rows newer than the newest shown go on top, in the order of the page; known rows are not repeated', () => {
  const merged = mergeNewerAuditRows([row(10), row(9)], [row(12), row(11), row(10), row(9)], 50);
  assert.deepEqual(merged.rows.map((r) => r.id), ['12', '11', '10', '9']);
  assert.deepEqual([merged.added, merged.replaced], [['12', '11'], false]);
  assert.deepEqual(mergeNewerAuditRows([row(10)], [row(10)], 50).added, []);
});

test('ids compare as numbers (bigint strings), not as text', () => {
  assert.deepEqual(mergeNewerAuditRows([row(99)], [row(100)], 50).rows.map((r) => r.id), ['100', '99']);
});

test('a whole page of new rows replaces the list (no gap shown as if contiguous); an empty list takes the page', () => {
  const merged = mergeNewerAuditRows([row(1)], [row(5), row(4), row(3)], 3);
  assert.deepEqual([merged.rows.map((r) => r.id), merged.replaced], [['5', '4', '3'], true]);
  assert.deepEqual(mergeNewerAuditRows([], [row(2), row(1)], 2).rows.map((r) => r.id), ['2', '1']);
});

test('a search ending in the past cannot grow', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  assert.equal(auditSearchCanGrow('', now), true);
  assert.equal(auditSearchCanGrow('2026-05-01T00:00', now), false);
  assert.equal(auditSearchCanGrow('2099-01-01T00:00', now), true);
});
