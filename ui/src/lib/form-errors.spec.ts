import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../api/http.js';
import { formErrors, importProblems, plainMessage } from './form-errors.js';

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

test('every problem of a rejected body goes under its own input, in plain words', () => {
  const e = new ApiError(400, 'validation_failed', 'name: must NOT have fewer than 1 characters', 'name', {
    issues: [
      { path: '/body/name', message: 'must NOT have fewer than 1 characters' },
      { path: '/body/host', message: 'must NOT have fewer than 1 characters' },
      { path: '/body/port', message: 'must be <= 65535' },
    ],
  });
  assert.deepEqual(formErrors(e, ['name', 'host', 'port'], fallback), { fields: { name: 'Required.', host: 'Required.', port: 'Must be at most 65535.' }, general: null });
  const single = new ApiError(400, 'validation_failed', 'username: must match pattern "^[A-Za-z0-9_.@-]{1,64}$"', 'username');
  assert.deepEqual(formErrors(single, ['username'], fallback).fields, { username: 'Use 1 to 64 letters, digits or the characters _ . @ -.' });
  const missing = new ApiError(400, 'validation_failed', "must have required property 'name'", undefined, { issues: [{ path: '/body', message: "must have required property 'name'" }, { path: '/body/x', message: 'must NOT have additional properties' }] });
  assert.deepEqual(formErrors(missing, ['name'], fallback), { fields: { name: 'Required.' }, general: 'x: Is not a setting this form knows.' });
});

test("the api's own sentences pass through; validator phrases never reach the person", () => {
  assert.equal(plainMessage('clientIp', 'client 192.168.2.10 already has a mapping; edit that one instead'), 'client 192.168.2.10 already has a mapping; edit that one instead');
  for (const raw of ['must NOT have more than 100 characters', 'must match pattern "^[a-z]+$"', 'must be integer', 'must be equal to one of the allowed values', 'must be >= 1']) {
    assert.doesNotMatch(plainMessage('name', raw), /must NOT|pattern|\^|>=|<=|integer/);
  }
});
