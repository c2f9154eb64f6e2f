import type { ApiContext } from '../context.js';

/**
 * After a revocation committed: this process stops honouring the token(s) at once, and their open
 * SSE streams end. `user` covers a password or role change and a deletion (every token of the user).
 */
export function revoked(ctx: ApiContext, target: { jti: string } | { userId: number }): void {
  if ('jti' in target) {
    ctx.sessions.forgetToken(target.jti);
    ctx.streams.endWhere((auth) => auth.jti === target.jti);
  } else {
    ctx.sessions.forgetUser(target.userId);
    ctx.streams.endWhere((auth) => auth.userId === target.userId);
  }
}
