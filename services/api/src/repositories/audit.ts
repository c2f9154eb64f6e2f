import type { AuditLogRow, Db } from '@pgw/db';
import { sql } from 'kysely';
import { sessionEnded } from '../logic/domain-errors.js';
import { redactSecrets } from '../logic/redact.js';
import { AuditSearchTimeout, type Actor, type AuditEntry, type AuditFilter, type AuditReader, type AuditRepository } from '../services/ports.js';

export type { Actor } from '../services/ports.js';

/**
 * Call inside the transaction of the change it records, so both commit or neither does. A user's
 * change commits only while that user's session stands: the role was checked when the request
 * began, and a write may wait seconds for a probe, during which another admin may demote the user,
 * reset their password or delete them. The user's row is read FOR SHARE, so such a change either
 * committed before (and this one is refused, rolled back whole) or waits until this one commits.
 * Not for rows about a session (login, logout) nor about the actor's own row: the user routes lock
 * and check that first (lockUserChange), and a password change checks its version in its update.
 */
export async function writeAudit(trx: Db, actor: Actor, entry: AuditEntry, confirmed?: WeakSet<Actor>): Promise<void> {
  // Logins and logouts are about the session itself; a change to one's own row checks it first (lockUserChange).
  const exempt = entry.entityType === 'session' || (entry.entityType === 'user' && entry.entityId !== null && String(entry.entityId) === String(actor.userId));
  if (actor.userId !== null && actor.tokenVersion != null && !exempt && !confirmed?.has(actor)) {
    const current = await trx.selectFrom('users').select('tokenVersion').where('id', '=', actor.userId).forShare().executeTakeFirst();
    if (current?.tokenVersion !== actor.tokenVersion) throw sessionEnded();
    confirmed?.add(actor); // in a transaction the lock holds to the commit: an import's 4096 rows need one read
  }
  const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(redactSecrets(value)));
  await trx
    .insertInto('auditLog')
    .values({
      actorUserId: actor.userId,
      actorUsername: actor.username,
      sourceIp: actor.sourceIp,
      userAgent: actor.userAgent,
      action: entry.action,
      entityType: entry.entityType,
      entityId: entry.entityId === null ? null : String(entry.entityId),
      before: json(entry.before),
      after: json(entry.after),
      requestId: actor.requestId,
    })
    .execute();
}

/** LIKE's own wildcards in an operator's text are literal characters. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Postgres' code for a statement cancelled by statement_timeout. */
const QUERY_CANCELED = '57014';

/**
 * Newest first by id (the primary key), so a cursor page is an index range scan however large the
 * log. A text search cannot use an index (`%…%`) and reads every row: it runs with a time limit of
 * its own (`timeoutMs`), so one never holds a connection of the api's pool for long.
 */
export async function searchAudit(db: Db, filter: AuditFilter, limit: number, timeoutMs: number): Promise<AuditLogRow[]> {
  try {
    return await db.transaction().execute(async (trx) => {
      await sql.raw(`SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(timeoutMs))}`).execute(trx);
      return await searchIn(trx, filter, limit);
    });
  } catch (error) {
    if ((error as { code?: string }).code === QUERY_CANCELED) throw new AuditSearchTimeout(timeoutMs);
    throw error;
  }
}

async function searchIn(db: Db, filter: AuditFilter, limit: number): Promise<AuditLogRow[]> {
  let query = db.selectFrom('auditLog').selectAll();
  if (filter.before) query = query.where('id', '<', filter.before);
  if (filter.actor) query = query.where('actorUsername', '=', filter.actor);
  if (filter.entityType) query = query.where('entityType', '=', filter.entityType);
  if (filter.entityId) query = query.where('entityId', '=', filter.entityId);
  if (filter.action) query = query.where('action', '=', filter.action);
  // host() compares as text: a malformed address matches nothing instead of failing the inet cast.
  if (filter.sourceIp) query = query.where(sql<string>`host(source_ip)`, '=', filter.sourceIp);
  if (filter.text) {
    const haystack = filter.withoutClients
      ? sql<string>`concat_ws(' ', actor_username, action, entity_id, before::text, after::text)`
      : sql<string>`concat_ws(' ', actor_username, action, entity_id, host(source_ip), user_agent, before::text, after::text)`;
    query = query.where(haystack, 'ilike', likePattern(filter.text));
  }
  if (filter.from) query = query.where('at', '>=', filter.from);
  if (filter.to) query = query.where('at', '<', filter.to);
  if (filter.hiddenEntityTypes?.length) query = query.where('entityType', 'not in', filter.hiddenEntityTypes);
  const rows = await query.orderBy('id', 'desc').limit(limit).execute();
  return filter.withoutClients ? rows.map((row) => ({ ...row, sourceIp: null, userAgent: null })) : rows;
}

export const auditReader = (db: Db, timeoutMs: number): AuditReader => ({ search: (filter, limit) => searchAudit(db, filter, limit, timeoutMs) });

/** `inTransaction`: the actor's session is checked once per transaction (its lock holds to the commit), else at every write. */
export const auditRepository = (db: Db, inTransaction: boolean): AuditRepository => {
  const confirmed = inTransaction ? new WeakSet<Actor>() : undefined;
  return { write: (actor, entry) => writeAudit(db, actor, entry, confirmed) };
};
