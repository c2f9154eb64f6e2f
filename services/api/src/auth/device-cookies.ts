import { createSecretKey, hkdfSync, type KeyObject, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';

/** The cookie a successful login leaves in its browser, sent back with that browser's next logins only. */
export const DEVICE_COOKIE = 'pgw_device';
export const DEVICE_COOKIE_PATH = '/api/v1/auth/login';
/** How long a browser stays known without logging in again (each login issues a new cookie). */
export const DEVICE_TTL_SECONDS = 180 * 24 * 3600;

const AUDIENCE = 'pgw-device';
const claimsSchema = z.object({ dev: z.string().uuid(), usr: z.string().min(1), uid: z.number().int().positive(), ver: z.number().int(), aud: z.literal(AUDIENCE) });

/** What a cookie says: the device, and the user as it was at the login that issued it. */
export interface DeviceClaims {
  readonly deviceId: string;
  readonly userId: number;
  readonly tokenVersion: number;
}

/**
 * Whether the user row still is the one the cookie was issued to: the same id (not a user deleted
 * and made again under the name) and token version (a password change or reset since ends every
 * cookie, as it ends every session).
 */
export function deviceMatches(claims: DeviceClaims, user: { id: number; tokenVersion: number } | undefined): boolean {
  return user !== undefined && user.id === claims.userId && user.tokenVersion === claims.tokenVersion;
}

/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
 * logged in as a user before proves it with a signed cookie, and its login attempts for that user
 * are counted by the cookie and the user (LoginThrottle.reserveDevice: every attempt, successes
 * too), outside the address and global limits: a distributed storm that fills the global ceiling
 * refuses every other login, never the operator's own browser. The cookie grants nothing else: no
 * session, no access; it ends with a password change (the token version in it), and however many
 * a thief holds, they share the user's few attempts a window. Signed with a key derived from
 * PGW_JWT_SECRET for this purpose only, with an audience of its own: never taken for a session
 * token, nor a session token for it.
 */
export class DeviceCookies {
  private readonly key: KeyObject;

  constructor(jwtSecret: string) {
    this.key = createSecretKey(Buffer.from(hkdfSync('sha256', Buffer.from(jwtSecret, 'utf8'), Buffer.alloc(0), 'pgw device cookie v1', 32)));
  }

  /** A new cookie value for a browser that just logged in as `user`. */
  issue(user: { id: number; username: string; tokenVersion: number }): string {
    return jwt.sign({ dev: randomUUID(), usr: user.username.toLowerCase(), uid: user.id, ver: user.tokenVersion }, this.key, { algorithm: 'HS256', audience: AUDIENCE, expiresIn: DEVICE_TTL_SECONDS });
  }

  /** What `cookie` says when it is ours, unexpired, and for `username` (any case); otherwise null. The row is the caller's to check (deviceMatches). */
  claimsOf(cookie: unknown, username: string): DeviceClaims | null {
    if (typeof cookie !== 'string' || cookie.length === 0 || cookie.length > 1024) return null;
    try {
      const claims = claimsSchema.safeParse(jwt.verify(cookie, this.key, { algorithms: ['HS256'], audience: AUDIENCE }));
      if (!claims.success || claims.data.usr !== username.toLowerCase()) return null;
      return { deviceId: claims.data.dev, userId: claims.data.uid, tokenVersion: claims.data.ver };
    } catch {
      return null;
    }
  }
}
