import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decryptSecret, encryptSecret } from './secret-box.js';

describe('secret box', () => {
  const key = randomBytes(32);
  it('round-trips and never stores the plaintext', () => {
    const sealed = encryptSecret('proxy-pass', key);
    assert.ok(!sealed.includes('proxy-pass'));
    assert.equal(decryptSecret(sealed, key), 'proxy-pass');
    assert.notEqual(encryptSecret('proxy-pass', key), sealed, 'a fresh IV each time');
  });
  it('refuses a wrong key and tampered data', () => {
    const sealed = encryptSecret('proxy-pass', key);
    assert.throws(() => decryptSecret(sealed, randomBytes(32)), /wrong PGW_SECRET_KEY or tampered/);
    const parts = sealed.split('.');
    parts[3] = Buffer.from('xxxxxxxxxx').toString('base64url');
    assert.throws(() => decryptSecret(parts.join('.'), key), /wrong PGW_SECRET_KEY or tampered/);
    assert.throws(() => decryptSecret('plain', key), /unknown format/);
  });
  it('refuses a shortened tag (Node takes 4 bytes unless the length is pinned)', () => {
    const parts = encryptSecret('proxy-pass', key).split('.');
    parts[2] = Buffer.from(parts[2]!, 'base64url').subarray(0, 4).toString('base64url');
    assert.throws(() => decryptSecret(parts.join('.'), key), /wrong PGW_SECRET_KEY or tampered/);
  });
});
