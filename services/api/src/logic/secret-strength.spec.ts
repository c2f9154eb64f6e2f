import assert from 'node:assert/strict';
import { test } from 'node:test';
import { weakSecretReason } from './secret-strength.js';

test('a random 64-hex-character secret is accepted', () => {
  assert.equal(weakSecretReason('3f6c1d9a8b7e4c2f0a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a'), null);
});

test('short, default and low-variety secrets are refused with a reason', () => {
  assert.match(weakSecretReason('secret') ?? '', /at least 32/);
  assert.match(weakSecretReason('changemechangemechangemechangeme') ?? '', /known default \("changeme"\)/);
  assert.match(weakSecretReason('secret-secret-secret-secret-secret-1') ?? '', /known default \("secret"\)/);
  assert.match(weakSecretReason('a'.repeat(40)) ?? '', /distinct characters/);
});
