import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openSealed, PasswordSealer, sealingPublicKey } from './sealed-box.js';
import { decryptSecret, encryptSecret } from './secret-box.js';

describe('sealed box (v2)', () => {
  const secretKey = randomBytes(32);
  const sealer = new PasswordSealer(sealingPublicKey(secretKey));

  it('is opened by the secret key the public key came from, and by nothing the sealer holds', () => {
    const sealed = sealer.seal('proxy-pass');
    assert.match(sealed, /^v2\.[\w-]{43}\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    assert.ok(!sealed.includes('proxy-pass'));
    assert.equal(openSealed(sealed, secretKey), 'proxy-pass');
    assert.equal(decryptSecret(sealed, secretKey), 'proxy-pass', 'decryptSecret opens both formats');
    assert.equal(decryptSecret(encryptSecret('old', secretKey), secretKey), 'old', 'v1 rows still open');
    assert.notEqual(sealer.seal('proxy-pass'), sealed, 'a fresh ephemeral key each time');
    // The public key used as a secret key opens nothing: holding it is not holding the passwords.
    assert.throws(() => openSealed(sealed, sealingPublicKey(secretKey)), /wrong PGW_SECRET_KEY or tampered/);
    assert.throws(() => openSealed(sealed, randomBytes(32)), /wrong PGW_SECRET_KEY or tampered/);
  });

  it('refuses tampered parts and unknown shapes', () => {
    const parts = sealer.seal('proxy-pass').split('.');
    for (const index of [1, 2, 3, 4]) {
      const tampered = [...parts];
      const bytes = Buffer.from(tampered[index]!, 'base64url');
      bytes[0]! ^= 1;
      tampered[index] = bytes.toString('base64url');
      assert.throws(() => openSealed(tampered.join('.'), secretKey), /wrong PGW_SECRET_KEY or tampered/, `part ${index}`);
    }
    const shortTag = [...parts];
    shortTag[3] = Buffer.from(parts[3]!, 'base64url').subarray(0, 4).toString('base64url');
    assert.throws(() => openSealed(shortTag.join('.'), secretKey), /wrong PGW_SECRET_KEY or tampered/);
    assert.throws(() => openSealed([...parts, 'x'].join('.'), secretKey), /unknown format/);
    assert.throws(() => openSealed(parts.slice(0, 4).join('.'), secretKey), /unknown format/);
  });

  it('refuses a public key that cannot seal: wrong length, or a low-order point', () => {
    assert.throws(() => new PasswordSealer(randomBytes(31)), /must be 32 bytes/);
    assert.throws(() => new PasswordSealer(Buffer.alloc(32)), /not a usable X25519 key/);
    // A key that is not in canonical form: the seal's HKDF salt would hold bytes the opener never derives.
    const topBit = Buffer.from(sealingPublicKey(randomBytes(32)));
    topBit[31]! |= 0x80;
    assert.throws(() => new PasswordSealer(topBit), /not a canonical X25519 public key/);
    const pPlusOne = Buffer.alloc(32, 0xff);
    pPlusOne[0] = 0xee;
    pPlusOne[31] = 0x7f;
    assert.throws(() => new PasswordSealer(pPlusOne), /not a canonical X25519 public key/);
  });

  it('derives the public key as docker/secret-public-key.sh does with openssl (generate-env.sh, the install)', () => {
    const script = fileURLToPath(new URL('../../../docker/secret-public-key.sh', import.meta.url));
    const shell = execFileSync('sh', [script], { input: `${secretKey.toString('hex')}\n`, encoding: 'utf8' });
    assert.equal(shell, `${sealingPublicKey(secretKey).toString('base64')}\n`);
  });
});
