import type { RequestHandler } from 'express';
import type { ApiContext } from '../context.js';
import { validSessionUser } from '../repositories/users.js';

export const SESSION_COOKIE = 'pgw_session';
export const CSRF_COOKIE = 'pgw_csrf';

/**
 * Establishes req.auth from `Authorization: Bearer` or the session cookie. A missing, bad, expired
 * or revoked token just leaves the request anonymous; enforceAccess decides what that means.
 * Verified sessions are cached briefly (SessionCache); this process's revocations clear them.
 */
export function authenticate(ctx: ApiContext): RequestHandler {
  return async (req, _res, next) => {
    const header = req.get('authorization');
    const bearer = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const cookie = (req.cookies as Record<string, string> | undefined)?.[SESSION_COOKIE];
    const token = bearer ?? cookie;
    if (!token) return next();
    const via = bearer ? 'bearer' : 'cookie';
    const cached = ctx.sessions.get(token);
    if (cached) {
      req.auth = { ...cached, via };
      return next();
    }
    const claims = ctx.tokens.verify(token);
    if (!claims) return next();
    const generation = ctx.sessions.generation;
    const user = await validSessionUser(ctx.db, claims);
    if (!user) return next();
    const session = { userId: user.id, username: user.username, role: user.role, jti: claims.jti, tokenVersion: claims.tokenVersion, expiresAt: claims.expiresAt };
    ctx.sessions.set(token, session, generation);
    req.auth = { ...session, via };
    next();
  };
}
