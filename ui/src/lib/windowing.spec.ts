import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rowWindow } from './windowing.js';

test('renders only the visible rows plus overscan, spacers keep the scroll height', () => {
  const w = rowWindow(1000, 40, 4000, 400, 5);
  assert.deepEqual(w, { start: 95, end: 116, padTop: 3800, padBottom: (1000 - 116) * 40 });
  assert.equal(w.padTop + (w.end - w.start) * 40 + w.padBottom, 1000 * 40);
});

test('clamps at both ends', () => {
  assert.deepEqual(rowWindow(30, 40, 0, 400, 10), { start: 0, end: 21, padTop: 0, padBottom: 9 * 40 });
  assert.deepEqual(rowWindow(30, 40, 99999, 400, 10), { start: 30, end: 30, padTop: 1200, padBottom: 0 });
  assert.deepEqual(rowWindow(0, 40, 0, 400), { start: 0, end: 0, padTop: 0, padBottom: 0 });
});
