import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../api/http.js';
import { formErrors, importProblems } from './form-errors.js';

const fallback = (e: unknown) => (e instanceof Error ? e.message : String(e));

test('an error naming a field of the form goes under that field', () => {
  const e = new ApiError(400, 'validation_failed', 'must be an IPv4 address like 192.168.2.10', 'body.clientIp');
  assert.deepEqual(formErrors(e, ['clientIp', 'proxyId'], fallback), {
    fields: { clientIp: 'must be an IPv4 address like 192.168.2.10' },
    general: null,
  });
});

test('a probe failure or an unknown field is a general error', () => {
  const probe = new ApiError(422, 'probe_failed', 'health gate: connect ECONNREFUSED 198.51.100.99:1080');
  assert.deepEqual(formErrors(probe, ['clientIp'], fallback), { fields: {}, general: probe.message });
  const other = new ApiError(409, 'conflict', 'port in use', 'listenPort');
  assert.equal(formErrors(other, ['clientIp'], fallback).general, 'port in use');
});

test('import problems name line and field', () => {
  assert.deepEqual(importProblems({ rows: [{ line: 3, field: 'client_ip', message: 'not an IPv4 address' }, { message: 'x' }] }), [
    'line 3, client_ip: not an IPv4 address',
    'x',
  ]);
  assert.deepEqual(importProblems(undefined), []);
});
