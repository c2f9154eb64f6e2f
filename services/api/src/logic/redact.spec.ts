import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactSecrets } from './redact.js';

test('secrets are replaced at any depth, absent ones stay null, other values are kept', () => {
  const input = { name: 'p1', passwordEnc: 'v1.abc', nested: { password: 'hunter2', port: 1080 }, list: [{ token: 'x' }], username: null, password: null };
  assert.deepEqual(redactSecrets(input), {
    name: 'p1',
    passwordEnc: '[redacted]',
    nested: { password: '[redacted]', port: 1080 },
    list: [{ token: '[redacted]' }],
    username: null,
    password: null,
  });
  assert.equal(JSON.stringify(redactSecrets(input)).includes('hunter2'), false);
});
