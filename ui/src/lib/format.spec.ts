import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditSubject, formatAge, formatDateTime, formatEventTime, formatLatency } from './format.js';

test('latency rounds to ms and shows a dash when unknown', () => {
  assert.equal(formatLatency(12.6), '13 ms');
  assert.equal(formatLatency(null), '—');
});

test('age picks the largest whole unit', () => {
  const now = Date.parse('2025-01-01T12:00:00Z');
  assert.equal(formatAge('2025-01-01T11:59:30Z', now), '30 s ago');
  assert.equal(formatAge('2025-01-01T11:50:00Z', now), '10 min ago');
  assert.equal(formatAge('2025-01-01T09:00:00Z', now), '3 h ago');
  assert.equal(formatAge(null, now), 'never');
});

test('date and time are unambiguous; an event of today shows its time, an older one its date too', () => {
  const at = new Date(2025, 0, 5, 14, 3, 22);
  assert.equal(formatDateTime(at), '2025-01-05 14:03:22');
  assert.equal(formatEventTime(at, new Date(2025, 0, 5, 23, 0, 0).getTime()), '14:03:22');
  assert.equal(formatEventTime(at, new Date(2025, 0, 6, 0, 1, 0).getTime()), '2025-01-05 14:03:22');
});

test('an audit row is named by what the console shows, not by its id', () => {
  assert.equal(auditSubject({ entityType: 'proxy', before: null, after: { id: 7, name: 'dante-a' } }), 'proxy dante-a');
  assert.equal(auditSubject({ entityType: 'mapping', before: { id: 10, clientIp: '192.168.2.10' }, after: null }), 'mapping 192.168.2.10');
  assert.equal(auditSubject({ entityType: 'user', before: null, after: { username: 'ann' } }), 'user ann');
  assert.equal(auditSubject({ entityType: 'settings', before: {}, after: {} }), 'settings');
});
