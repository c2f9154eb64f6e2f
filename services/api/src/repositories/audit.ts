import type { AuditLogRow, Db } from '@pgw/db';
import { redactSecrets } from '../logic/redact.js';
import type { Actor, AuditEntry, AuditRepository } from '../services/ports.js';

export type { Actor } from '../services/ports.js';

/** Call inside the transaction of the change it records, so both commit or neither does. */
export async function writeAudit(trx: Db, actor: Actor, entry: AuditEntry): Promise<void> {
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

export interface AuditFilter {
  limit: number;
  before?: string;
  actor?: string;
  entityType?: string;
  entityId?: string;
  action?: string;
  from?: Date;
  to?: Date;
}

export async function listAudit(db: Db, filter: AuditFilter): Promise<{ items: AuditLogRow[]; nextCursor: string | null }> {
  let query = db.selectFrom('auditLog').selectAll();
  if (filter.before) query = query.where('id', '<', filter.before);
  if (filter.actor) query = query.where('actorUsername', '=', filter.actor);
  if (filter.entityType) query = query.where('entityType', '=', filter.entityType);
  if (filter.entityId) query = query.where('entityId', '=', filter.entityId);
  if (filter.action) query = query.where('action', '=', filter.action);
  if (filter.from) query = query.where('at', '>=', filter.from);
  if (filter.to) query = query.where('at', '<', filter.to);
  const rows = await query.orderBy('id', 'desc').limit(filter.limit + 1).execute();
  const items = rows.slice(0, filter.limit);
  return { items, nextCursor: rows.length > filter.limit ? items[items.length - 1]!.id : null };
}

export const auditRepository = (db: Db): AuditRepository => ({ write: (actor, entry) => writeAudit(db, actor, entry) });
