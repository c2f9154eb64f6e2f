import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';

/**
 * Proxy passwords sealed to a public key (format `v2`), so the service that stores them (the api)
 * cannot open one: it holds the public half only. The private half is derived from PGW_SECRET_KEY,
 * which only the services that dial proxies (forwarder, health) hold. An ephemeral X25519 key per
 * password, HKDF-SHA256 over the shared secret, AES-256-GCM: as libsodium's sealed box, with Node's
 * own primitives.
 */
export const SEALED_VERSION = 'v2';

/** Domain label of the derivation; docker/secret-public-key.sh computes the same with openssl. */
const DERIVATION_LABEL = 'pgw proxy password sealing key v2\n';
const HKDF_INFO = 'pgw sealed proxy password v2';
const TAG_BYTES = 16;
// DER prefixes of an X25519 key (RFC 8410): PKCS#8 private and SubjectPublicKeyInfo, then the 32 raw bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

function privateKeyOf(secretKey: Buffer): KeyObject {
  const scalar = createHash('sha256').update(DERIVATION_LABEL).update(secretKey.toString('hex')).digest();
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, scalar]), format: 'der', type: 'pkcs8' });
}

const rawPublic = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' }).subarray(-32);
const publicKeyOfRaw = (raw: Buffer): KeyObject => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });

/** The public key the api seals with (PGW_SECRET_PUBLIC_KEY), as 32 raw bytes. */
export function sealingPublicKey(secretKey: Buffer): Buffer {
  return rawPublic(createPublicKey(privateKeyOf(secretKey)));
}

function contentKey(shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), HKDF_INFO, 32));
}

/** 2^255 - 19: a canonical X25519 public key is a little-endian number below it. */
const FIELD_PRIME = (1n << 255n) - 19n;

function isCanonical(publicKey: Buffer): boolean {
  return BigInt(`0x${Buffer.from(publicKey).reverse().toString('hex')}`) < FIELD_PRIME;
}

/** Seals passwords to one public key; refuses at construction a key that cannot seal (a low-order point) or is not canonical. */
export class PasswordSealer {
  private readonly recipient: KeyObject;

  constructor(private readonly publicKey: Buffer) {
    if (publicKey.length !== 32) throw new Error('the sealing public key must be 32 bytes');
    // Another spelling of a key (the top bit set, or at least the prime) seals under a salt the
    // opener never derives: every password saved with it would be lost.
    if (!isCanonical(publicKey)) throw new Error('the sealing public key is not a canonical X25519 public key: give the value docker/secret-public-key.sh prints');
    this.recipient = publicKeyOfRaw(publicKey);
    try {
      this.seal('');
    } catch {
      throw new Error('the sealing public key is not a usable X25519 key (a low-order point): give the value docker/secret-public-key.sh prints');
    }
  }

  /** `v2.<ephemeral public>.<iv>.<tag>.<ciphertext>`, base64url. */
  seal(plaintext: string): string {
    const ephemeral = generateKeyPairSync('x25519');
    const ephemeralPublic = rawPublic(ephemeral.publicKey);
    const key = contentKey(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: this.recipient }), ephemeralPublic, this.publicKey);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [SEALED_VERSION, ...[ephemeralPublic, iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'))].join('.');
  }
}

/** Opens a `v2` password with the PGW_SECRET_KEY its public key was derived from. */
export function openSealed(sealed: string, secretKey: Buffer): string {
  const [version, ephemeral, iv, tag, ciphertext, ...rest] = sealed.split('.');
  if (version !== SEALED_VERSION || ephemeral === undefined || iv === undefined || tag === undefined || ciphertext === undefined || rest.length > 0) {
    throw new Error('stored secret has an unknown format');
  }
  const refused = new Error('stored secret cannot be decrypted: wrong PGW_SECRET_KEY or tampered data');
  const ephemeralPublic = Buffer.from(ephemeral, 'base64url');
  const authTag = Buffer.from(tag, 'base64url');
  if (ephemeralPublic.length !== 32 || authTag.length !== TAG_BYTES) throw refused;
  try {
    const privateKey = privateKeyOf(secretKey);
    const shared = diffieHellman({ privateKey, publicKey: publicKeyOfRaw(ephemeralPublic) });
    const decipher = createDecipheriv('aes-256-gcm', contentKey(shared, ephemeralPublic, rawPublic(createPublicKey(privateKey))), Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
    decipher.setAuthTag(authTag);
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw refused;
  }
}
