import assert from 'node:assert/strict';
import { test } from 'node:test';
import { usageBars } from './usage-bars.js';

test('one bar per bucket, missing buckets empty, scaled to the highest bucket', () => {
  const points = [
    { at: '2026-12-01T10:00:00.000Z', bytesUp: 100, bytesDown: 300, connections: 1 },
    { at: '2026-12-01T12:00:00.000Z', bytesUp: 0, bytesDown: 200, connections: 1 },
  ];
  const { bars, max } = usageBars(points, '2026-12-01T10:00:00.000Z', '2026-12-01T14:00:00.000Z', 'hour', 400, 100);
  assert.equal(max, 400);
  assert.deepEqual(bars.map((b) => [b.x, b.down, b.up]), [[0, 75, 25], [100, 0, 0], [200, 50, 0], [300, 0, 0]]);
  assert.equal(bars[0]!.width, 99);
});

test('a range not on a bucket boundary starts at the bucket holding from', () => {
  const { bars } = usageBars([], '2026-12-01T10:30:00.000Z', '2026-12-01T12:30:00.000Z', 'hour', 300, 50);
  assert.deepEqual(bars.map((b) => new Date(b.at).toISOString()), ['2026-12-01T10:00:00.000Z', '2026-12-01T11:00:00.000Z', '2026-12-01T12:00:00.000Z']);
});
