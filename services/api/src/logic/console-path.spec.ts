import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isConsolePath } from './console-path.js';

const API = new Set(['api', 'healthz', 'readyz']);

test('clean paths outside the api are the console', () => {
  for (const path of ['/', '/mappings', '/mappings/', '/proxies/12', '/assets/index-Ab_1.js', '/favicon.ico', '/mappings?x=%2F', '/apis', '/api-docs', '/healthz2']) {
    assert.equal(isConsolePath(path, API), true, path);
  }
});

test('no spelling of an api path and nothing that decodes, collapses or resolves', () => {
  const refused = [
    '/api', '/api/', '/API', '/Api/v1/users', '/HEALTHZ', '/readyZ/', '/api/docs',
    '/%61pi/v1/users', '/mappings%2Fx', '//api/v1/users', '//mappings', '/mappings//x', '/./api', '/x/../api', '/..', '/.env', '/assets/.hidden',
    '/api;x/v1', '/mappings;x', '/mappings%00', '/assets\\app.js', '/mappings#x', 'http://h/mappings', '*', '', '/mappings x',
  ];
  for (const path of refused) assert.equal(isConsolePath(path, API), false, path);
});

test('judges a long path that is not clean in linear time (an unauthenticated request must not stall the loop)', () => {
  // With nested repetition ((x+/?)*) the regex engine tried every split of the letters before
  // refusing: 28 letters and one bad character took seconds, 40 would take hours.
  for (const path of [`/${'a'.repeat(28)}!`, `/${'a/'.repeat(5_000)}a!`, `/${'ab'.repeat(20_000)}%`]) {
    const started = process.hrtime.bigint();
    assert.equal(isConsolePath(path, API), false);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(ms < 200, `${path.length} characters judged in ${ms.toFixed(1)} ms`);
  }
  assert.equal(isConsolePath(`/${'a/'.repeat(5_000)}a`, API), true, 'a long clean path is still the console');
});
