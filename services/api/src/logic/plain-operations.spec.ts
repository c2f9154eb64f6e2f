import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { API_SPEC_PATH } from '../paths.js';
import { plainOperations, type SpecPaths } from './plain-operations.js';

const spec: SpecPaths = {
  paths: {
    '/a': { get: { operationId: 'listA', parameters: [{ in: 'query' }, { $ref: '#/components/parameters/Limit' }] }, post: { operationId: 'createA', requestBody: {} } },
    '/a/{id}': { get: { operationId: 'getA' } },
    '/b': { get: { operationId: 'getB', parameters: [{ in: 'query', required: true }] } },
    '/c': { get: { operationId: 'getC', parameters: [{ in: 'header' }] } },
    '/d': { parameters: [{ $ref: '#/components/parameters/Missing' }], get: { operationId: 'getD' } },
  },
  components: { parameters: { Limit: { in: 'query' } } },
};

test('only literal paths without a body, a required, header or unresolvable parameter are plain', () => {
  assert.deepEqual([...plainOperations(spec)], [['GET /a', { operationId: 'listA', openApiRoute: '/a' }]]);
});

test('API_SPEC.yaml: the hot read routes are plain, writes and templated routes are not', () => {
  const plain = plainOperations(parse(readFileSync(API_SPEC_PATH, 'utf8')) as SpecPaths);
  for (const key of ['GET /api/v1/mappings', 'GET /api/v1/status', 'GET /healthz', 'GET /readyz']) assert.ok(plain.has(key), key);
  for (const key of ['POST /api/v1/mappings', 'GET /api/v1/mappings/{id}', 'PUT /api/v1/settings', 'POST /api/v1/auth/login']) assert.ok(!plain.has(key), key);
});
