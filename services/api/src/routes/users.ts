import type { Request, Response, Router } from 'express';
import { strictRouter } from '../http/router.js';
import type { Role } from '../auth/auth-context.js';
import { withCurrentPassword } from '../auth/current-password.js';
import { hashPassword } from '../auth/passwords.js';
import type { ApiContext } from '../context.js';
import { actorOf, idParam } from '../http/actor.js';
import { forbidden, unauthenticated } from '../http/api-error.js';
import { conflict, invalid, notFound, sessionEnded } from '../logic/domain-errors.js';
import { revoked } from '../http/revocation.js';
import { writeAudit } from '../repositories/audit.js';
import { countAdminsForUpdate, deleteUser, findUserById, findUserByUsername, insertUser, listUsers, lockUserChange, toUserDto, updateUser } from '../repositories/users.js';

/**
 * A new password's hash, made once the acting admin has typed their own password again: creating
 * an account, setting another's password or making an admin mints a credential that outlives the
 * session, so a stolen session alone could keep the gateway for good. Checked as a login is
 * (throttled, audited as `reauth_failed`); the hash runs in the same turn of the password gate.
 */
async function afterReauthentication(ctx: ApiContext, req: Request, res: Response, currentPassword: string | undefined, newPassword: string | undefined): Promise<string | undefined> {
  if (currentPassword === undefined) throw invalid('currentPassword', 'type your own current password to create a user, set a password or make an admin');
  const actor = await findUserById(ctx.db, req.auth!.userId);
  if (!actor) throw unauthenticated();
  return withCurrentPassword(ctx, req, res, actor, currentPassword, 'reauth_failed', async () => (newPassword === undefined ? undefined : hashPassword(newPassword)));
}

export function userRoutes(ctx: ApiContext): Router {
  const router = strictRouter();

  router.get('/api/v1/users', async (_req, res) => {
    res.json({ items: (await listUsers(ctx.db)).map(toUserDto) });
  });

  router.post('/api/v1/users', async (req, res) => {
    const { username, password, role, currentPassword } = req.body as { username: string; password: string; role: Role; currentPassword: string };
    if (await findUserByUsername(ctx.db, username)) throw conflict('username', `user "${username}" already exists`);
    const passwordHash = (await afterReauthentication(ctx, req, res, currentPassword, password))!;
    const user = await ctx.db.transaction().execute(async (trx) => {
      const row = await insertUser(trx, { username, passwordHash, role });
      await writeAudit(trx, actorOf(req), { action: 'create', entityType: 'user', entityId: row.id, before: null, after: toUserDto(row) });
      return row;
    });
    res.status(201).json(toUserDto(user));
  });

  router.get('/api/v1/users/:id', async (req, res) => {
    const user = await findUserById(ctx.db, idParam(req));
    if (!user) throw notFound(`user ${idParam(req)}`);
    res.json(toUserDto(user));
  });

  router.patch('/api/v1/users/:id', async (req, res) => {
    const id = idParam(req);
    const body = req.body as { role?: Role; password?: string; currentPassword?: string };
    const actor = actorOf(req);
    // One's own password needs the current one (POST /auth/password, counted as a login): here it
    // asked for nothing, and a stolen admin session took the account for good.
    if (body.password !== undefined && id === actor.userId) throw forbidden('your own password is changed with POST /api/v1/auth/password, which asks for the current one');
    if (body.role === undefined && body.password === undefined) throw invalid(undefined, 'nothing to change: give role, password or both');
    const mintsCredential = body.password !== undefined || body.role === 'admin';
    const passwordHash = mintsCredential || body.currentPassword !== undefined ? await afterReauthentication(ctx, req, res, body.currentPassword, body.password) : undefined;
    const user = await ctx.db.transaction().execute(async (trx) => {
      if (!(await lockUserChange(trx, actor, id))) throw sessionEnded();
      const before = await findUserById(trx, id);
      if (!before) throw notFound(`user ${id}`);
      if (before.role === 'admin' && body.role === 'viewer' && (await countAdminsForUpdate(trx)) <= 1) {
        throw conflict('role', 'this is the last admin; make another user admin first');
      }
      const row = await updateUser(trx, id, { ...(body.role ? { role: body.role } : {}), ...(passwordHash ? { passwordHash } : {}) });
      await writeAudit(trx, actor, {
        action: 'update',
        entityType: 'user',
        entityId: id,
        before: toUserDto(before),
        after: { ...toUserDto(row), ...(passwordHash ? { password: 'changed' } : {}) },
      });
      return row;
    });
    revoked(ctx, { userId: id });
    res.json(toUserDto(user));
  });

  router.delete('/api/v1/users/:id', async (req, res) => {
    const id = idParam(req);
    const actor = actorOf(req);
    await ctx.db.transaction().execute(async (trx) => {
      if (!(await lockUserChange(trx, actor, id))) throw sessionEnded();
      const before = await findUserById(trx, id);
      if (!before) throw notFound(`user ${id}`);
      if (before.role === 'admin' && (await countAdminsForUpdate(trx)) <= 1) throw conflict(undefined, 'this is the last admin; it cannot be deleted');
      // Audited first: an admin deleting their own account is the row's actor, and the delete then
      // clears that reference (ON DELETE SET NULL); the row keeps their name.
      await writeAudit(trx, actor, { action: 'delete', entityType: 'user', entityId: id, before: toUserDto(before), after: null });
      await deleteUser(trx, id);
    });
    revoked(ctx, { userId: id });
    res.status(204).end();
  });

  return router;
}
