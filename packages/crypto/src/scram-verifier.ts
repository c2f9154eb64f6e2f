import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** PostgreSQL's own default (scram_iterations, PostgreSQL 16; fixed at 4096 before). */
const ITERATIONS = 4096;
/** What PostgreSQL takes without SASLprep changing it: printable ASCII. */
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677): given as the
 * password of ALTER ROLE, it is stored as it is, so the password itself never appears in a
 * statement (which the server logs with log_statement = ddl, or when the statement fails).
 * Printable ASCII only: PostgreSQL SASLpreps other passwords first, which this does not.
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = ITERATIONS): string {
  if (!PRINTABLE_ASCII.test(password)) throw new Error('the password must be printable ASCII (its SCRAM verifier is computed here)');
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
