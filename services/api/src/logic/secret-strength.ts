/** Secrets people paste from tutorials; a JWT key that is one of these (or a repetition of one) is refused. */
const KNOWN_DEFAULTS = ['secret', 'changeme', 'change_me', 'change-me', 'password', 'jwtsecret', 'jwt_secret', 'jwt-secret', 'supersecret',
  'your-256-bit-secret', 'mysecret', 'default', 'test', 'example', 'admin', 'pgw', 'keyboardcat', 'secretkey', 'secret_key'];

export const MIN_SECRET_LENGTH = 32;

/** Returns why a signing secret is unacceptable, or null when it is fine. */
export function weakSecretReason(secret: string): string | null {
  if (secret.length < MIN_SECRET_LENGTH) return `must be at least ${MIN_SECRET_LENGTH} characters (openssl rand -hex 32)`;
  const lower = secret.toLowerCase();
  for (const known of KNOWN_DEFAULTS) {
    if (lower.includes(known) && lower.split(known).join('').replace(/[^a-z0-9]/g, '').length < 16) {
      return `is a known default ("${known}"); generate one with: openssl rand -hex 32`;
    }
  }
  if (new Set(secret).size < 10) return 'has too few distinct characters to be random (openssl rand -hex 32)';
  return null;
}
