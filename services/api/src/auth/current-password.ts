import type { UserRow } from '@pgw/db';
import type { Request, Response } from 'express';
import type { ApiContext } from '../context.js';
import { actorOf } from '../http/actor.js';
import { ApiError, tooMany } from '../http/api-error.js';
import { writeAudit } from '../repositories/audit.js';
import { countedCheck } from './counted-check.js';
import { verifyPassword } from './passwords.js';
import { GateFull } from '../logic/work-gate.js';

/** The password-check queue was full: nothing was checked, the attempt is not held against anyone. */
export const busy = (res: Response) => tooMany(res, 1, 'too many logins are being checked; try again in 1 s');

/** What a wrong current password is audited as: a change of one's own password, or an admin action it guards. */
export type WrongPasswordAction = 'password_change_failed' | 'reauth_failed';

/**
 * The session's own user types their password again, and `then` runs in the same turn of the
 * password gate (a change that got in is not refused halfway). With a stolen session this is a
 * password oracle, so it is counted as a login is, before the check, under the login's limits.
 * A wrong password is audited (`action`) and answered 422 `wrong_password` naming
 * `currentPassword`; nothing of `then` runs.
 */
export async function withCurrentPassword<T>(ctx: ApiContext, req: Request, res: Response, user: UserRow, currentPassword: string, action: WrongPasswordAction, then: () => Promise<T>): Promise<T> {
  const ip = actorOf(req).sourceIp ?? 'unknown';
  const reserved = ctx.throttle.reserve(ip, user.username);
  if ('retryAfterSeconds' in reserved) throw tooMany(res, reserved.retryAfterSeconds, `too many wrong passwords; try again in ${reserved.retryAfterSeconds} s`);
  const { reservation } = reserved;
  let outcome: { ok: true; value: T } | { ok: false };
  try {
    outcome = await countedCheck(ctx.passwordGate, reservation, async () => ((await verifyPassword(user.passwordHash, currentPassword)) ? { ok: true as const, value: await then() } : { ok: false as const }));
  } catch (error) {
    if (error instanceof GateFull) throw busy(res);
    throw error;
  }
  if (!outcome.ok) {
    reservation.failed();
    await writeAudit(ctx.db, actorOf(req), { action, entityType: 'user', entityId: user.id, before: null, after: null });
    throw new ApiError(422, 'wrong_password', 'your current password is wrong', 'currentPassword');
  }
  reservation.succeeded();
  return outcome.value;
}
