import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { openSealed, SEALED_VERSION } from './sealed-box.js';

const VERSION = 'v1';

/** GCM's whole tag: Node takes a shorter one unless told (4 bytes: a forgery in about 2^32 tries). */
const TAG_BYTES = 16;

/** AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>` in base64url, so a sealed password is useless without the key. */
export function encryptSecret(plaintext: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [VERSION, iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

/** Opens either format: `v1` (sealed with the key itself, before 1.2 and in the forwarder's state file) or `v2` (sealed to its public key). */
export function decryptSecret(sealed: string, key: Buffer): string {
  if (sealed.startsWith(`${SEALED_VERSION}.`)) return openSealed(sealed, key);
  const [version, iv, tag, ciphertext] = sealed.split('.');
  if (version !== VERSION || iv === undefined || tag === undefined || ciphertext === undefined) {
    throw new Error('stored secret has an unknown format');
  }
  const authTag = Buffer.from(tag, 'base64url');
  if (authTag.length !== TAG_BYTES) throw new Error('stored secret cannot be decrypted: wrong PGW_SECRET_KEY or tampered data');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(authTag);
  try {
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new Error('stored secret cannot be decrypted: wrong PGW_SECRET_KEY or tampered data');
  }
}
