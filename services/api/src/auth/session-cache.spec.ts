import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CachedSession, SessionCache } from './session-cache.js';

const session = (userId: number, jti: string, expiresAt = new Date(1_000_000)): CachedSession => ({ userId, username: `u${userId}`, role: 'viewer', jti, tokenVersion: 0, expiresAt });

test('a session is served from the cache until its TTL or its token expiry', () => {
  let now = 0;
  const cache = new SessionCache(1_000, 100, () => now);
  cache.set('t1', session(1, 'a', new Date(1_500)), cache.generation);
  assert.equal(cache.get('t1')?.jti, 'a');
  now = 999;
  assert.equal(cache.get('t1')?.jti, 'a');
  now = 1_000;
  assert.equal(cache.get('t1'), undefined, 'TTL over: check Postgres again');
  cache.set('t1', session(1, 'a', new Date(1_500)), cache.generation);
  now = 1_500;
  assert.equal(cache.get('t1'), undefined, 'the token itself expired');
  assert.equal(cache.get('unknown'), undefined);
});

test('revoking a token or a user forgets its entries at once', () => {
  const cache = new SessionCache(60_000, 100, () => 0);
  cache.set('t1', session(1, 'a'), cache.generation);
  cache.set('t2', session(1, 'b'), cache.generation);
  cache.set('t3', session(2, 'c'), cache.generation);
  cache.forgetToken('a');
  assert.deepEqual([cache.get('t1'), cache.get('t2')?.jti, cache.get('t3')?.jti], [undefined, 'b', 'c']);
  cache.forgetUser(1);
  assert.deepEqual([cache.get('t2'), cache.get('t3')?.jti], [undefined, 'c']);
});

test('a lookup that raced a revocation is not cached', () => {
  const cache = new SessionCache(60_000, 100, () => 0);
  const generation = cache.generation;
  cache.forgetUser(1);
  cache.set('t1', session(1, 'a'), generation);
  assert.equal(cache.get('t1'), undefined);
});

test('stays bounded when full of fresh entries', () => {
  let now = 0;
  const cache = new SessionCache(1_000, 3, () => now);
  for (const t of ['t1', 't2', 't3']) cache.set(t, session(1, t), cache.generation);
  now = 500;
  cache.set('t4', session(1, 't4'), cache.generation);
  assert.equal(cache.get('t4')?.jti, 't4');
  assert.equal(cache.get('t1'), undefined);
});
