import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { compileOperations, type SpecPaths } from '../logic/operation-matcher.js';
import { API_SPEC_PATH } from '../paths.js';
import { ACCESS } from './access.js';

test('ACCESS has a rule for exactly the operations of API_SPEC.yaml, and only login, healthz and readyz are public', () => {
  const operations = compileOperations(parse(readFileSync(API_SPEC_PATH, 'utf8')) as SpecPaths).operations.map((o) => o.operationId);
  assert.deepEqual(Object.keys(ACCESS).sort(), [...operations].sort(), 'a rule without an operation is dead; an operation without a rule is refused');
  assert.deepEqual(Object.entries(ACCESS).filter(([, access]) => access === 'public').map(([id]) => id).sort(), ['healthz', 'login', 'readyz']);
});
