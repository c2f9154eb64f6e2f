import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { API_SPEC_PATH } from '../paths.js';
import { compileOperations, type SpecPaths } from './operation-matcher.js';

const spec: SpecPaths = {
  paths: {
    '/a': { get: { operationId: 'listA', parameters: [{ in: 'query' }, { $ref: '#/components/parameters/Limit' }] }, post: { operationId: 'createA', requestBody: {} } },
    '/a/{id}': { parameters: [{ $ref: '#/components/parameters/Id' }], get: { operationId: 'getA' }, delete: { operationId: 'deleteA' } },
    '/a/export': { get: { operationId: 'exportA' } },
    '/a/{id}/runs/{run}': {
      parameters: [{ $ref: '#/components/parameters/Id' }, { name: 'run', in: 'path', schema: { type: 'string', pattern: '^[0-9]{1,3}-[a-z]+$' } }],
      get: { operationId: 'getRun' },
    },
    '/b': { get: { operationId: 'getB', parameters: [{ in: 'query', required: true }] } },
    '/c': { get: { operationId: 'getC', parameters: [{ in: 'header' }] } },
  },
  components: { parameters: { Limit: { in: 'query' }, Id: { name: 'id', in: 'path', schema: { type: 'integer' } } } },
};
const matcher = compileOperations(spec);
const operationId = (method: string, target: string) => {
  const found = matcher.resolve(method, target);
  return found.kind === 'operation' ? found.operation.operationId : found.kind;
};

test('resolves exact paths to their operation, literal segments before parameters', () => {
  assert.equal(operationId('GET', '/a'), 'listA');
  assert.equal(operationId('GET', '/a?limit=5'), 'listA');
  assert.equal(operationId('POST', '/a'), 'createA');
  assert.equal(operationId('GET', '/a/12'), 'getA');
  assert.equal(operationId('DELETE', '/a/0'), 'deleteA');
  assert.equal(operationId('GET', '/a/export'), 'exportA');
  assert.equal(operationId('GET', '/a/7/runs/12-abc'), 'getRun');
});

test('every other spelling is no operation', () => {
  for (const target of ['/A', '/a/', '//a', '/a//', '/%61', '/a;x', '/a%00', '/./a', '/a/.', '/a/export/', '/A/export', '/a/EXPORT', '/a/12/', '/a//12', '/a/x/../12', 'http://h/a', '*', '', '/a#x', '/a/12#x', '/a/..', '/a/7/runs/.']) {
    // /a/EXPORT has the shape of /a/{id}: a bad parameter (400) rather than nothing (404); never an operation.
    assert.ok(['none', 'bad_parameter'].includes(operationId('GET', target)), target);
  }
});

test('a parameter must be a canonical value of its schema (400, naming it), other methods are 405', () => {
  for (const value of ['abc', '012', '+12', '1.0', '%31', '1;x', '1%00', '0x1']) {
    assert.deepEqual(matcher.resolve('GET', `/a/${value}`), { kind: 'bad_parameter', parameter: 'id', message: 'must be an integer (decimal digits, no leading zero or sign)' }, value);
  }
  assert.equal(operationId('GET', '/a/-3'), 'getA', 'a negative integer is well-formed; the validator checks the minimum');
  const run = matcher.resolve('GET', '/a/7/runs/12-ABC');
  assert.deepEqual(run, { kind: 'bad_parameter', parameter: 'run', message: 'must match ^[0-9]{1,3}-[a-z]+$' });
  assert.equal(matcher.resolve('GET', '/a/7/runs/12%2dabc').kind, 'bad_parameter', 'no decoding before the pattern');
  assert.deepEqual(matcher.resolve('PUT', '/a'), { kind: 'method_not_allowed', allowed: ['GET', 'POST'] });
  assert.deepEqual(matcher.resolve('HEAD', '/a/5'), { kind: 'method_not_allowed', allowed: ['GET', 'DELETE'] });
  assert.equal(operationId('get', '/a'), 'method_not_allowed');
});

test('plain: literal path, no body, no required or non-query parameter', () => {
  const plain = matcher.operations.filter((o) => o.plain).map((o) => o.operationId);
  assert.deepEqual(plain, ['listA', 'exportA']);
});

test('refuses to compile what it cannot check', () => {
  const withType = (type: string): SpecPaths => ({ paths: { '/x/{v}': { get: { operationId: 'x', parameters: [{ name: 'v', in: 'path', schema: { type } }] } } } });
  assert.throws(() => compileOperations(withType('boolean')), /type boolean is not supported/);
  assert.throws(() => compileOperations({ paths: { '/x/{v}': { get: { operationId: 'x' } } } }), /path parameter v is not declared/);
  assert.throws(() => compileOperations({ paths: { '/x': { get: {} } } }), /has no operationId/);
  assert.throws(() => compileOperations({ paths: { '/x': { get: { operationId: 'x', parameters: [{ $ref: '#/components/parameters/Nope' }] } } } }), /cannot resolve/);
});

test('API_SPEC.yaml: every operation resolves from its own path; hot reads are plain; the prefixes', () => {
  const real = compileOperations(parse(readFileSync(API_SPEC_PATH, 'utf8')) as SpecPaths);
  assert.ok(real.operations.length >= 30);
  for (const op of real.operations) {
    const target = op.template.replace(/\{[^}]+\}/g, '7');
    const found = real.resolve(op.method, target);
    assert.ok(found.kind === 'operation' && found.operation === op, `${op.method} ${target} -> ${JSON.stringify(found)}`);
  }
  const plain = new Set(real.operations.filter((o) => o.plain).map((o) => `${o.method} ${o.template}`));
  for (const key of ['GET /api/v1/mappings', 'GET /api/v1/status', 'GET /healthz', 'GET /readyz']) assert.ok(plain.has(key), key);
  for (const key of ['POST /api/v1/mappings', 'GET /api/v1/mappings/{id}', 'PUT /api/v1/settings', 'POST /api/v1/auth/login']) assert.ok(!plain.has(key), key);
  assert.ok(real.prefixes.has('api') && real.prefixes.has('healthz') && real.prefixes.has('readyz'));
});
