import { Router } from 'express';
import { dummyPasswordHash, hashPassword, verifyPassword } from '../auth/passwords.js';
import type { ApiContext } from '../context.js';
import { actorOf } from '../http/actor.js';
import { ApiError, unauthenticated } from '../http/api-error.js';
import { revoked } from '../http/revocation.js';
import { endSession, startSession } from '../http/session.js';
import { writeAudit } from '../repositories/audit.js';
import { findUserById, findUserByUsername, revokeToken, toUserDto, updateUser } from '../repositories/users.js';

export function authRoutes(ctx: ApiContext): Router {
  const router = Router();

  router.post('/api/v1/auth/login', async (req, res) => {
    const { username, password } = req.body as { username: string; password: string };
    const ip = actorOf(req).sourceIp ?? 'unknown';
    const wait = ctx.throttle.retryAfterSeconds(ip, username);
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      throw new ApiError(429, 'too_many_requests', `too many failed logins; try again in ${wait} s`);
    }
    const user = await findUserByUsername(ctx.db, username);
    const ok = await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), password);
    if (!user || !ok) {
      ctx.throttle.recordFailure(ip, username);
      ctx.logger.warn('login failed', { username, ip });
      throw unauthenticated('wrong username or password');
    }
    ctx.throttle.recordSuccess(username);
    ctx.logger.info('login', { username, ip });
    res.json(startSession(ctx, req, res, user));
  });

  router.post('/api/v1/auth/logout', async (req, res) => {
    await revokeToken(ctx.db, req.auth!.jti, req.auth!.expiresAt);
    revoked(ctx, { jti: req.auth!.jti });
    endSession(req, res);
    res.status(204).end();
  });

  router.get('/api/v1/auth/me', async (req, res) => {
    const user = await findUserById(ctx.db, req.auth!.userId);
    if (!user) throw unauthenticated();
    res.json(toUserDto(user));
  });

  router.get('/api/v1/auth/csrf', (req, res) => {
    res.json({ csrfToken: ctx.csrf.generateCsrfToken(req, res, { overwrite: true, cookieOptions: { secure: req.secure } }) });
  });

  router.post('/api/v1/auth/password', async (req, res) => {
    const { currentPassword, newPassword } = req.body as { currentPassword: string; newPassword: string };
    const user = await findUserById(ctx.db, req.auth!.userId);
    if (!user) throw unauthenticated();
    if (!(await verifyPassword(user.passwordHash, currentPassword))) {
      throw new ApiError(422, 'wrong_password', 'the current password is wrong', 'currentPassword');
    }
    const passwordHash = await hashPassword(newPassword);
    const updated = await ctx.db.transaction().execute(async (trx) => {
      const row = await updateUser(trx, user.id, { passwordHash });
      await writeAudit(trx, actorOf(req), { action: 'password_change', entityType: 'user', entityId: user.id, before: null, after: null });
      return row;
    });
    revoked(ctx, { userId: user.id });
    res.json(startSession(ctx, req, res, updated));
  });

  return router;
}
