import type { UserRow } from '@pgw/db';
import type { Request, Response } from 'express';
import type { ApiContext } from '../context.js';
import { toUserDto } from '../repositories/users.js';
import { CSRF_COOKIE, SESSION_COOKIE } from './authenticate.js';

/** Issues a token, sets the session cookie, and binds a fresh CSRF token to it. */
export function startSession(ctx: ApiContext, req: Request, res: Response, user: UserRow) {
  const { token, claims } = ctx.tokens.issue(user.id, user.tokenVersion);
  req.auth = { userId: user.id, username: user.username, role: user.role, jti: claims.jti, tokenVersion: user.tokenVersion, expiresAt: claims.expiresAt, via: 'cookie' };
  // A browser-session cookie (no Expires): closing the browser ends the console's session on a shared
  // machine; the token's own expiry bounds it at the server.
  res.cookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
  const csrfToken = ctx.csrf.generateCsrfToken(req, res, { overwrite: true, cookieOptions: { secure: req.secure } });
  return { token, csrfToken, expiresAt: claims.expiresAt, user: toUserDto(user) };
}

export function endSession(req: Request, res: Response): void {
  res.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure: req.secure });
  res.clearCookie(CSRF_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure: req.secure });
}
