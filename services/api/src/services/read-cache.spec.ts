import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadCache } from './read-cache.js';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test('an answer is served again only while younger than the max age, counted from when its load began', async () => {
  const time = clock();
  const cache = new ReadCache(100, 64, time.now);
  let loads = 0;
  const load = async () => ++loads;
  assert.equal(await cache.get('page', load), 1);
  time.advance(99);
  assert.equal(await cache.get('page', load), 1);
  time.advance(1);
  assert.equal(await cache.get('page', load), 2);
  assert.equal(await cache.get('other', load), 3, 'each key has its own answer');
});

test('past half the max age the cached answer is still served while a fresh one loads, so no request waits', async () => {
  const time = clock();
  const cache = new ReadCache(100, 64, time.now);
  let loads = 0;
  let release: () => void = () => undefined;
  const load = async () => {
    const n = ++loads;
    if (n > 1) await new Promise<void>((resolve) => (release = resolve));
    return n;
  };
  assert.equal(await cache.get('page', load), 1);
  time.advance(49);
  assert.equal(await cache.get('page', load), 1);
  assert.equal(loads, 1, 'no refresh before half the max age');
  time.advance(1);
  assert.equal(await cache.get('page', load), 1, 'served at once although a refresh is running');
  assert.equal(await cache.get('page', load), 1);
  assert.equal(loads, 2, 'one refresh');
  release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(await cache.get('page', load), 2);
  time.advance(100);
  const waiting = cache.get('page', load);
  release();
  assert.equal(await waiting, 3, 'past the max age a request waits for the load');
});

test('concurrent misses of one key share one load', async () => {
  const cache = new ReadCache(100, 64, clock().now);
  let loads = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const load = async () => (await gate, ++loads);
  const answers = Promise.all([cache.get('page', load), cache.get('page', load), cache.get('page', load)]);
  release();
  assert.deepEqual(await answers, [1, 1, 1]);
});

test('after invalidate nothing older is served, and a load that ran across it is not kept', async () => {
  const cache = new ReadCache(1_000, 64, clock().now);
  let value = 'before';
  assert.equal(await cache.get('page', async () => value), 'before');
  value = 'after';
  cache.invalidate();
  assert.equal(await cache.get('page', async () => value), 'after');

  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  cache.invalidate();
  const slow = cache.get('page', async () => (await gate, 'read before the write'));
  cache.invalidate(); // a write commits while that read runs
  release();
  assert.equal(await slow, 'read before the write', 'its own caller still gets it');
  assert.equal(await cache.get('page', async () => 'fresh'), 'fresh', 'but it was not kept');
});

test('a failed load is not kept and the next call loads again', async () => {
  const cache = new ReadCache(1_000, 64, clock().now);
  await assert.rejects(cache.get('page', async () => Promise.reject(new Error('Postgres down'))), /Postgres down/);
  assert.equal(await cache.get('page', async () => 'ok'), 'ok');
});

test('it keeps at most maxEntries keys', async () => {
  const cache = new ReadCache(1_000, 2, clock().now);
  let loads = 0;
  for (const key of ['a', 'b', 'c']) await cache.get(key, async () => ++loads);
  assert.equal(await cache.get('a', async () => ++loads), 4, 'the oldest key was dropped');
  assert.equal(await cache.get('c', async () => ++loads), 3);
});
