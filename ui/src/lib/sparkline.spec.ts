import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSparkline } from './sparkline.js';

test('scales time to width and value to height, highest value at the top', () => {
  const s = buildSparkline(
    [
      { at: 2000, value: 10 },
      { at: 1000, value: 0 },
    ],
    100,
    20,
    0,
  );
  assert.equal(s.path, 'M0 20 L100 0');
  assert.equal(s.max, 10);
});

test('a failed probe breaks the line and is reported as a failure mark', () => {
  const s = buildSparkline(
    [
      { at: 0, value: 5 },
      { at: 50, value: null },
      { at: 100, value: 5 },
    ],
    100,
    10,
    0,
  );
  assert.equal(s.path, '');
  assert.deepEqual(s.failures, [50]);
  assert.deepEqual(s.dots, [
    { x: 0, y: 0 },
    { x: 100, y: 0 },
  ]);
});

test('a line is drawn through neighbouring good probes, an isolated one is a dot', () => {
  const s = buildSparkline(
    [
      { at: 0, value: 4 },
      { at: 25, value: 4 },
      { at: 50, value: null },
      { at: 100, value: 2 },
    ],
    100,
    10,
    0,
  );
  assert.equal(s.path, 'M0 0 L25 0');
  assert.deepEqual(s.dots, [{ x: 100, y: 5 }]);
});

test('empty input draws nothing', () => {
  assert.deepEqual(buildSparkline([], 100, 10), { path: '', failures: [], dots: [], max: 0 });
});
