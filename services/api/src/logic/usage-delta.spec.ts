import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientUsageSample } from '@pgw/events';
import { usageDeltas } from './usage-delta.js';

const since = new Date('2026-12-01T10:00:00Z');
const sample = (seconds: number, clients: Record<string, [number, number, number]>, countersSince = since): ClientUsageSample => ({
  node: 'gw-a',
  sampledAt: new Date(since.getTime() + seconds * 1000),
  countersSince,
  sampleMs: 1,
  clients: Object.fromEntries(
    Object.entries(clients).map(([ip, [bytesUp, bytesDown, connections]], i) => [ip, { mappingId: i + 1, bytesUp, bytesDown, connections, quota: null, overQuota: false }]),
  ),
});

test('the first sample of a node counts whole; the next ones the difference; idle clients give no row', () => {
  const first = usageDeltas(null, sample(10, { '192.168.2.10': [100, 2000, 3], '192.168.2.11': [0, 0, 0] }))!;
  assert.deepEqual(first.rows, [{ clientIp: '192.168.2.10', mappingId: 1, bytesUp: 100, bytesDown: 2000, connections: 3 }]);
  const base = { sampledAt: new Date(since.getTime() + 10_000), countersSince: since, counters: first.counters };
  const next = usageDeltas(base, sample(20, { '192.168.2.10': [150, 2000, 3], '192.168.2.11': [0, 0, 0] }))!;
  assert.deepEqual(next.rows, [{ clientIp: '192.168.2.10', mappingId: 1, bytesUp: 50, bytesDown: 0, connections: 0 }]);
  assert.deepEqual(next.counters['192.168.2.10'], [150, 2000, 3]);
});

test('a sample not newer than the base is not taken again', () => {
  const base = { sampledAt: new Date(since.getTime() + 10_000), countersSince: since, counters: {} };
  assert.equal(usageDeltas(base, sample(10, { '192.168.2.10': [1, 1, 1] })), null);
  assert.equal(usageDeltas(base, sample(5, { '192.168.2.10': [1, 1, 1] })), null);
});

test('restarted counters count whole: another countersSince, or one client counting from lower', () => {
  const base = { sampledAt: new Date(since.getTime() + 10_000), countersSince: since, counters: { '192.168.2.10': [500, 500, 5], '192.168.2.11': [500, 500, 5] } as const };
  const restartedNode = usageDeltas(base, sample(20, { '192.168.2.10': [40, 60, 1] }, new Date(since.getTime() + 15_000)))!;
  assert.deepEqual(restartedNode.rows.map((r) => [r.bytesUp, r.bytesDown, r.connections]), [[40, 60, 1]]);
  const readded = usageDeltas(base, sample(20, { '192.168.2.10': [600, 600, 6], '192.168.2.11': [10, 700, 6] }))!;
  assert.deepEqual(readded.rows.map((r) => [r.clientIp, r.bytesUp, r.bytesDown, r.connections]), [['192.168.2.10', 100, 100, 1], ['192.168.2.11', 10, 700, 6]]);
});
