import { createSecretKey, hkdfSync, type KeyObject, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';

/** The cookie a successful login leaves in its browser, sent back with that browser's next logins only. */
export const DEVICE_COOKIE = 'pgw_device';
export const DEVICE_COOKIE_PATH = '/api/v1/auth/login';
/** How long a browser stays known without logging in again (each login issues a new cookie). */
export const DEVICE_TTL_SECONDS = 180 * 24 * 3600;

const AUDIENCE = 'pgw-device';
const claimsSchema = z.object({ dev: z.string().uuid(), usr: z.string().min(1), aud: z.literal(AUDIENCE) });

/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
 * logged in as a user before proves it with a signed cookie, and its login attempts for that user
 * are counted by the cookie alone (LoginThrottle.reserveDevice), outside the address and global
 * limits: a distributed storm that fills the global ceiling refuses every other login, never the
 * operator's own browser. The cookie grants nothing else: no session, no access; a stolen one buys
 * its thief the few guesses a window of one cookie allows. Signed with a key derived from
 * PGW_JWT_SECRET for this purpose only, with an audience of its own: never taken for a session
 * token, nor a session token for it.
 */
export class DeviceCookies {
  private readonly key: KeyObject;

  constructor(jwtSecret: string) {
    this.key = createSecretKey(Buffer.from(hkdfSync('sha256', Buffer.from(jwtSecret, 'utf8'), Buffer.alloc(0), 'pgw device cookie v1', 32)));
  }

  /** A new cookie value for a browser that just logged in as `username`. */
  issue(username: string): string {
    return jwt.sign({ dev: randomUUID(), usr: username.toLowerCase() }, this.key, { algorithm: 'HS256', audience: AUDIENCE, expiresIn: DEVICE_TTL_SECONDS });
  }

  /** The device's id when `cookie` is ours, unexpired, and for `username` (any case); otherwise null. */
  deviceOf(cookie: unknown, username: string): string | null {
    if (typeof cookie !== 'string' || cookie.length === 0 || cookie.length > 1024) return null;
    try {
      const claims = claimsSchema.safeParse(jwt.verify(cookie, this.key, { algorithms: ['HS256'], audience: AUDIENCE }));
      return claims.success && claims.data.usr === username.toLowerCase() ? claims.data.dev : null;
    } catch {
      return null;
    }
  }
}
