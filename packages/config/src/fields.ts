import { parse as parseConnectionString } from 'pg-connection-string';
import { z } from 'zod';
import { hostNameProblem, normalizeHostName } from './allowed-host.js';

/** Reusable environment field parsers: every value arrives as a string. */

export const logLevel = z.enum(['error', 'warn', 'info', 'debug']).default('info');

/**
 * Read as pg reads it (pg-connection-string), so a URL it cannot use fails here, naming the
 * variable, not at the first query. Messages never repeat the value: it holds a password.
 */
function postgresUrlProblem(s: string): string | null {
  if (!/^postgres(ql)?:\/\//.test(s)) return 'must be a postgres:// URL (for a socket: postgres://user:pass@/db?host=/var/run/postgresql)';
  let database: string | null | undefined;
  let port: string | null | undefined;
  try {
    ({ database, port } = parseConnectionString(s));
  } catch (error) {
    // pg-connection-string's own words (`Invalid URL`, or an sslcert file it could not read): the URL is never in them.
    return `is not a usable postgres:// URL: ${(error as Error).message} (a bad port, a character to percent-encode, an sslcert file)`;
  }
  if (port === '0') return 'names port 0 (postgres://user:pass@host:5432/pgw)';
  return database ? null : 'names no database (postgres://user:pass@host:5432/pgw)';
}

/** The TCP port a valid postgres:// URL names, read as pg reads it; null for none (a socket, or pg's default). */
export function postgresUrlPort(s: string): number | null {
  const { port } = parseConnectionString(s);
  return port ? Number(port) : null;
}

export const postgresUrl = z.string().superRefine((s, ctx) => {
  const problem = postgresUrlProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const SOCKET_CREDENTIALS = new Set(['username', 'password']);

/**
 * Why a Redis URL is unusable, or null. Credentials: `redis://user:password@host:port`, or for a
 * socket `/path/redis.sock?username=user&password=password` (each service has its own ACL user).
 * Messages never repeat the value: it holds a password.
 */
function redisUrlProblem(s: string): string | null {
  if (s.startsWith('/')) {
    const query = s.indexOf('?');
    if (query === -1) return null;
    const params = new URLSearchParams(s.slice(query + 1));
    const unknown = [...params.keys()].filter((key) => !SOCKET_CREDENTIALS.has(key));
    if (unknown.length > 0) return `a socket path takes only username and password parameters (not ${unknown.join(', ')})`;
    if (!params.get('username') || !params.get('password')) return 'a socket path with credentials needs both username and password';
    return null;
  }
  if (!/^rediss?:\/\//.test(s)) return 'must be a redis:// URL or an absolute Unix socket path';
  try {
    const url = new URL(s);
    // Not the name: a password written without its colon (redis://S3cret@host) lands there.
    if (url.username && !url.password) return 'has a username but no password (redis://user:password@host:port; a password alone: redis://:password@host:port)';
    if (url.hostname === '') return 'names no host (redis://user:password@host:6379)';
    if (url.port === '0') return 'names port 0 (redis://user:password@host:6379)';
  } catch {
    return 'is not a valid redis:// URL';
  }
  return null;
}

/** The TCP port a valid Redis URL names; null for none (a socket path, or the default). */
export function redisUrlPort(s: string): number | null {
  if (s.startsWith('/')) return null;
  const { port } = new URL(s);
  return port ? Number(port) : null;
}

/** A redis:// URL, or an absolute path to a Unix socket (how services inside the gateway namespace reach Redis). */
export const redisUrl = z.string().superRefine((s, ctx) => {
  const problem = redisUrlProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Digits only, then a number: Number() also takes `0x50`, `1e3`, `80.0` and blanks around. */
const digits = (message: string) => z.string().regex(/^[0-9]{1,16}$/, message).transform(Number);

export const tcpPort = digits('must be a port number (digits only)').pipe(z.number().min(1, 'must be between 1 and 65535').max(65535, 'must be between 1 and 65535'));

export const listenHost = z.string().regex(/^[0-9A-Za-z.:-]+$/, 'must be an address or hostname to listen on');

export function positiveInt(defaultValue: number, max = Number.MAX_SAFE_INTEGER) {
  return digits('must be a number (whole, digits only)').pipe(z.number().min(1, 'must be at least 1').max(max, `must be at most ${max}`)).default(defaultValue);
}

export const booleanFlag = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
    .transform((s) => s === 'true' || s === '1' || s === 'yes')
    .default(defaultValue);

/**
 * The AES-256-GCM key that encrypts proxy passwords at rest: 32 bytes as 64 hex chars or base64
 * (43 characters and `=`; base64url's `-` and `_` too, which the decoder always took: a key made by
 * `secrets.token_urlsafe(32)` stays the same key). Random bytes: 32 of them hold fewer than 16
 * distinct values about never, so a key that does is typed, not generated (64 zeros, `ab` 32
 * times, a word repeated), and is refused; so is text that only lenient base64 decoding turned into
 * 32 bytes.
 */
export const secretKey = z.string().transform((s, ctx) => {
  const bytes = /^[0-9a-fA-F]{64}$/.test(s) ? Buffer.from(s, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(s) ? Buffer.from(s, 'base64') : null;
  if (bytes === null || bytes.length !== 32) {
    ctx.addIssue({ code: 'custom', message: 'must be 32 random bytes as 64 hex characters or base64 (openssl rand -hex 32)' });
    return z.NEVER;
  }
  if (new Set(bytes).size < 16) {
    ctx.addIssue({ code: 'custom', message: 'does not look random (too few distinct bytes); generate one with: openssl rand -hex 32' });
    return z.NEVER;
  }
  return bytes;
});

/** A Unix socket's file: absolute, and short enough for sun_path (108 bytes with the NUL). */
export const unixSocketPath = z
  .string()
  .refine((s) => s.startsWith('/'), 'must be an absolute path')
  .refine((s) => Buffer.byteLength(s) <= 107, 'must be at most 107 bytes (the limit of a Unix socket path)')
  .refine((s) => !s.includes('\0'), 'must not contain a NUL byte');

/**
 * Comma-separated DNS names an HTTP listener answers to besides IP addresses and localhost (any
 * other Host gets 421: DNS rebinding, allowed-host.ts); normalized, an empty list by default.
 */
export const hostNames = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((name) => name.trim()).filter((name) => name !== ''))
  .superRefine((names, ctx) => {
    for (const name of names) {
      const problem = hostNameProblem(name);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
    }
  })
  .transform((names) => names.map(normalizeHostName));
