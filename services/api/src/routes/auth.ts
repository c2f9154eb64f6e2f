import type { UserRow } from '@pgw/db';
import type { Request, Response, Router } from 'express';
import { strictRouter } from '../http/router.js';
import { dummyPasswordHash, hashPassword, verifyPassword } from '../auth/passwords.js';
import { countedCheck } from '../auth/counted-check.js';
import { DEVICE_COOKIE, DEVICE_COOKIE_PATH, DEVICE_TTL_SECONDS, deviceMatches } from '../auth/device-cookies.js';
import type { Reservation } from '../auth/login-throttle.js';
import { busy, withCurrentPassword } from '../auth/current-password.js';
import { GateFull } from '../logic/work-gate.js';
import type { ApiContext } from '../context.js';
import { actorOf } from '../http/actor.js';
import { tooMany, unauthenticated } from '../http/api-error.js';
import { revoked } from '../http/revocation.js';
import { endSession, startSession } from '../http/session.js';
import { writeAudit } from '../repositories/audit.js';
import { findUserById, findUserByUsername, revokeToken, toUserDto, updateUserAtVersion } from '../repositories/users.js';

export function authRoutes(ctx: ApiContext): Router {
  const router = strictRouter();

  /** A failed login, audited without the attempted name unless it is a real user's (it may be a mistyped password). */
  const auditFailedLogin = (req: Request, user: UserRow | undefined) =>
    writeAudit(ctx.db, actorOf(req), { action: 'login_failed', entityType: 'user', entityId: user?.id ?? null, before: null, after: user ? { username: user.username } : null });

  router.post('/api/v1/auth/login', async (req, res) => {
    const { username, password } = req.body as { username: string; password: string };
    const ip = actorOf(req).sourceIp ?? 'unknown';
    // Counted before the password is checked: concurrent attempts cannot all pass a limit that only failures would fill.
    // A browser that logged in as this user before, since the last password change, is counted
    // apart (its device cookie) and goes first in the password queue: a storm from many addresses
    // cannot keep the operator out. Any other attempt, or one past the device's own limit, is
    // counted as an address's.
    const known = await knownDevice(req, username);
    const reserved = known?.reservation ?? ctx.throttle.reserve(ip, username);
    if ('retryAfterSeconds' in reserved) {
      ctx.loginMetrics.refusals.inc({ reason: 'throttled' });
      throw tooMany(res, reserved.retryAfterSeconds, `too many failed logins; try again in ${reserved.retryAfterSeconds} s`);
    }
    const { reservation } = reserved;
    let checked: { user: UserRow | undefined; ok: boolean };
    try {
      // The user lookup is inside the gate too, so a storm cannot drain the Postgres pool either.
      checked = await countedCheck(ctx.passwordGate, reservation, async () => {
        const user = known?.user ?? (await findUserByUsername(ctx.db, username));
        const hash = user?.passwordHash ?? (await dummyPasswordHash());
        ctx.loginMetrics.passwordChecks.inc();
        return { user, ok: await verifyPassword(hash, password) };
      }, known !== null);
    } catch (error) {
      if (!(error instanceof GateFull)) throw error;
      ctx.loginMetrics.refusals.inc({ reason: 'busy' });
      throw busy(res);
    }
    const { user, ok } = checked;
    if (!user || !ok) {
      reservation.failed();
      // The name only when it is a user's, as the audit does: an unknown one may be a password typed in the wrong field.
      ctx.logger.warn('login failed', { ...(user ? { username } : { usernameKnown: false }), ip });
      await auditFailedLogin(req, user);
      throw unauthenticated('wrong username or password');
    }
    reservation.succeeded();
    ctx.logger.info('login', { username, ip });
    const session = startSession(ctx, req, res, user);
    res.cookie(DEVICE_COOKIE, ctx.devices.issue(user), { httpOnly: true, sameSite: 'strict', secure: req.secure, path: DEVICE_COOKIE_PATH, maxAge: DEVICE_TTL_SECONDS * 1000 });
    try {
      await writeAudit(ctx.db, actorOf(req), { action: 'login', entityType: 'session', entityId: req.auth!.jti, before: null, after: null });
    } catch (error) {
      // No session without its audit row: the error answer must not carry the cookies.
      res.removeHeader('Set-Cookie');
      throw error;
    }
    res.json(session);
  });

  /**
   * The device lane of a login (device-cookies.ts): a cookie of ours for this username, within its
   * limits, whose user row is still the one it was issued to. The row is read before the password
   * queue only for such cookies, as many as their limits let through; null: the address lane.
   */
  async function knownDevice(req: Request, username: string): Promise<{ reservation: { reservation: Reservation }; user: UserRow } | null> {
    const claims = ctx.devices.claimsOf((req.cookies as Record<string, unknown> | undefined)?.[DEVICE_COOKIE], username);
    if (claims === null) return null;
    const reserved = ctx.throttle.reserveDevice(claims.deviceId, username);
    if (!('reservation' in reserved)) return null;
    const user = await findUserByUsername(ctx.db, username).catch((error: unknown) => {
      reserved.reservation.abandoned();
      throw error;
    });
    if (user !== undefined && deviceMatches(claims, user)) return { reservation: reserved, user };
    reserved.reservation.abandoned();
    return null;
  }

  router.post('/api/v1/auth/logout', async (req, res) => {
    await ctx.db.transaction().execute(async (trx) => {
      await revokeToken(trx, req.auth!.jti, req.auth!.expiresAt);
      await writeAudit(trx, actorOf(req), { action: 'logout', entityType: 'session', entityId: req.auth!.jti, before: null, after: null });
    });
    revoked(ctx, { jti: req.auth!.jti });
    endSession(req, res);
    res.status(204).end();
  });

  router.get('/api/v1/auth/me', async (req, res) => {
    const user = await findUserById(ctx.db, req.auth!.userId);
    if (!user) throw unauthenticated();
    res.json(toUserDto(user));
  });

  // The session's token as it stands (its cookie, while bound to this session): every tab of the
  // console asks at its start, and a new token per ask replaced the cookie under the other tabs,
  // whose changes and logout were then refused. Login makes a new one (startSession).
  router.get('/api/v1/auth/csrf', (req, res) => {
    res.json({ csrfToken: ctx.csrf.generateCsrfToken(req, res, { overwrite: false, cookieOptions: { secure: req.secure } }) });
  });

  router.post('/api/v1/auth/password', async (req, res) => {
    const { currentPassword, newPassword } = req.body as { currentPassword: string; newPassword: string };
    const user = await findUserById(ctx.db, req.auth!.userId);
    if (!user) throw unauthenticated();
    const passwordHash = await withCurrentPassword(ctx, req, res, user, currentPassword, 'password_change_failed', () => hashPassword(newPassword));
    const updated = await ctx.db.transaction().execute(async (trx) => {
      const row = await updateUserAtVersion(trx, user.id, user.tokenVersion, { passwordHash });
      // Changed meanwhile (an admin's reset, a role change, another change of its own): this
      // session ended with it, and the change is not written over it.
      if (row === undefined) throw unauthenticated('the password or role was changed meanwhile; log in again');
      await writeAudit(trx, actorOf(req), { action: 'password_change', entityType: 'user', entityId: user.id, before: null, after: { sessionsRevoked: 'all' } });
      return row;
    });
    revoked(ctx, { userId: user.id });
    res.json(startSession(ctx, req, res, updated));
  });

  return router;
}
