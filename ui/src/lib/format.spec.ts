import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAge, formatLatency } from './format.js';

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
