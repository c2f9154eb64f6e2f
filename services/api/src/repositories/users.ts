import type { Db, UserRow } from '@pgw/db';
import { sql } from 'kysely';
import type { Role } from '../auth/auth-context.js';

export interface UserDto {
  id: number;
  username: string;
  role: Role;
  createdAt: Date;
  updatedAt: Date;
}

export const toUserDto = (row: UserRow): UserDto => ({ id: row.id, username: row.username, role: row.role, createdAt: row.createdAt, updatedAt: row.updatedAt });

export function listUsers(db: Db): Promise<UserRow[]> {
  return db.selectFrom('users').selectAll().orderBy('id').execute();
}

export function findUserById(db: Db, id: number): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  // Unique whatever the case (migration 0024): typed in any case, the name finds its one account.
  return db.selectFrom('users').selectAll().where(sql`lower(username)`, '=', username.toLowerCase()).executeTakeFirst();
}

export function insertUser(db: Db, user: { username: string; passwordHash: string; role: Role }): Promise<UserRow> {
  return db.insertInto('users').values(user).returningAll().executeTakeFirstOrThrow();
}

/**
 * updateUser() only if the row is still at `tokenVersion` (no role or password change since it was
 * read); undefined otherwise. A user's own password change hashes for a while after its read: an
 * admin's reset in between must not be written over.
 */
export function updateUserAtVersion(db: Db, id: number, tokenVersion: number, change: { passwordHash: string }): Promise<UserRow | undefined> {
  return db
    .updateTable('users')
    .set({ ...change, tokenVersion: sql`token_version + 1`, updatedAt: new Date() })
    .where('id', '=', id)
    .where('tokenVersion', '=', tokenVersion)
    .returningAll()
    .executeTakeFirst();
}

/** A role or password change bumps token_version: every token issued before it stops working. */
export function updateUser(db: Db, id: number, change: { role?: Role; passwordHash?: string }): Promise<UserRow> {
  return db
    .updateTable('users')
    .set({ ...change, tokenVersion: sql`token_version + 1`, updatedAt: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteUser(db: Db, id: number): Promise<void> {
  await db.deleteFrom('users').where('id', '=', id).execute();
}

/** Locks the admin rows so two concurrent demotions cannot both see "another admin exists". */
export async function countAdminsForUpdate(db: Db): Promise<number> {
  // In id order, as lockUserChange takes its rows: two admins' changes never wait on each other in a circle.
  const rows = await db.selectFrom('users').select('id').where('role', '=', 'admin').orderBy('id').forUpdate().execute();
  return rows.length;
}

/**
 * The first step of a change to a user (PATCH, DELETE): the acting admin's row, the target's and
 * every admin's (the last-admin check) locked in one statement, in id order, so two such changes
 * never deadlock; then the actor's session checked under that lock. The role was checked when the
 * request began and the argon2 hash may have waited its turn since: an admin demoted, reset or
 * deleted meanwhile changes nothing, not even their own account (a demoted admin restoring their
 * own role). Returns false when the actor's token version is no longer theirs.
 */
export async function lockUserChange(db: Db, actor: { userId: number | null; tokenVersion?: number | null }, targetId: number): Promise<boolean> {
  const ids = actor.userId === null ? [targetId] : [actor.userId, targetId];
  const rows = await db
    .selectFrom('users')
    .select(['id', 'tokenVersion'])
    .where((eb) => eb.or([eb('id', 'in', ids), eb('role', '=', 'admin')]))
    .orderBy('id')
    .forUpdate()
    .execute();
  if (actor.userId === null || actor.tokenVersion == null) return true;
  return rows.find((row) => row.id === actor.userId)?.tokenVersion === actor.tokenVersion;
}

export async function countUsers(db: Db): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The user a token speaks for, if the token is still honoured: the user exists, this token was not
 * revoked (logout) and it was issued under the user's current token_version (no password or role
 * change since). One round trip.
 */
export async function validSessionUser(db: Db, claims: { userId: number; jti: string; tokenVersion: number }) {
  const user = await findSessionUser(db, claims.userId, claims.jti);
  return user && !user.revoked && user.tokenVersion === claims.tokenVersion ? user : undefined;
}

function findSessionUser(db: Db, userId: number, jti: string) {
  return db
    .selectFrom('users')
    .select(['id', 'username', 'role', 'tokenVersion'])
    .select((eb) => eb.exists(eb.selectFrom('revokedTokens').select('jti').where('jti', '=', jti)).as('revoked'))
    .where('id', '=', userId)
    .executeTakeFirst();
}

export async function revokeToken(db: Db, jti: string, expiresAt: Date): Promise<void> {
  await db.insertInto('revokedTokens').values({ jti, expiresAt }).onConflict((oc) => oc.column('jti').doNothing()).execute();
}

export async function purgeExpiredRevocations(db: Db): Promise<void> {
  await db.deleteFrom('revokedTokens').where('expiresAt', '<', new Date()).execute();
}
