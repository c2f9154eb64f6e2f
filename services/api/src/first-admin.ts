import type { Db } from '@pgw/db';
import type { Logger } from '@pgw/log';
import { sql } from 'kysely';
import { hashPassword } from './auth/passwords.js';
import { writeAudit } from './repositories/audit.js';
import { countUsers, insertUser } from './repositories/users.js';

/**
 * First start only: creates the admin named in PGW_ADMIN_USERNAME/PASSWORD when no user exists.
 * There is no default password; without these variables the operator runs `pgw user create --role admin`.
 */
export async function ensureFirstAdmin(db: Db, logger: Logger, admin: { username?: string; password?: string }): Promise<void> {
  if (!admin.username || !admin.password) {
    if ((await countUsers(db)) === 0) logger.warn('no user exists: create the first admin with `pgw user create --role admin --username NAME`');
    return;
  }
  const passwordHash = await hashPassword(admin.password);
  const created = await db.transaction().execute(async (trx) => {
    // Serialises two api processes starting at once; both would otherwise see zero users.
    await sql`SELECT pg_advisory_xact_lock(hashtext('pgw-first-admin'))`.execute(trx);
    if ((await countUsers(trx)) > 0) return false;
    const row = await insertUser(trx, { username: admin.username!, passwordHash, role: 'admin' });
    await writeAudit(trx, { userId: null, username: 'pgw-api', sourceIp: null, userAgent: null, requestId: 'first-start' }, {
      action: 'create', entityType: 'user', entityId: row.id, before: null, after: { id: row.id, username: row.username, role: row.role },
    });
    return true;
  });
  if (created) logger.info('created the first admin from PGW_ADMIN_USERNAME', { username: admin.username });
}
