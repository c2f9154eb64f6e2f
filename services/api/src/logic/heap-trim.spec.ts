import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shouldTrimHeap } from './heap-trim.js';

const MiB = 1024 * 1024;

test('a quiet api whose young generation grew is trimmed', () => {
  assert.equal(shouldTrimHeap(0, 10_000, 32 * MiB), true);
  assert.equal(shouldTrimHeap(9, 10_000, 8 * MiB), true);
});

test('a busy api is left alone: it needs its young generation', () => {
  assert.equal(shouldTrimHeap(10, 10_000, 32 * MiB), false);
  assert.equal(shouldTrimHeap(2_000, 10_000, 32 * MiB), false);
});

test('a young generation still small is left alone', () => {
  assert.equal(shouldTrimHeap(0, 10_000, 4 * MiB), false);
});
