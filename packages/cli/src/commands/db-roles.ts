import { scramSha256Verifier } from '@pgw/crypto';
import { type Db } from '@pgw/db';
import { sql } from 'kysely';

/** Service roles created NOLOGIN by migration 0002, and the variable holding each one's password. */
export const SERVICE_ROLES = {
  pgw_api: 'PGW_DB_PASSWORD_API',
  pgw_health: 'PGW_DB_PASSWORD_HEALTH',
  pgw_agent: 'PGW_DB_PASSWORD_AGENT',
  pgw_forwarder: 'PGW_DB_PASSWORD_FORWARDER',
} as const;

/**
 * Gives each service role a login password from the environment; a role with no password set stays
 * NOLOGIN. Every password is checked before any role changes, and all change in one transaction: a
 * bad third one left the first two changed, the services on the old passwords locked out.
 */
export async function setServiceRolePasswords(db: Db, env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<void> {
  const verifiers: [role: string, verifier: string][] = [];
  for (const [role, variable] of Object.entries(SERVICE_ROLES)) {
    const password = env[variable];
    if (!password) {
      out(`skipped ${role}: ${variable} is not set (role stays NOLOGIN)`);
      continue;
    }
    if (password.length < 16) throw new Error(`${variable}: must be at least 16 characters (no role was changed)`);
    try {
      verifiers.push([role, scramSha256Verifier(password)]);
    } catch (error) {
      throw new Error(`${variable}: ${(error as Error).message} (no role was changed)`);
    }
  }
  await db.transaction().execute(async (trx) => {
    // The verifier, not the password: the server logs DDL with log_statement = ddl, and a failing statement.
    for (const [role, verifier] of verifiers) await sql`ALTER ROLE ${sql.id(role)} LOGIN PASSWORD ${sql.lit(verifier)}`.execute(trx);
  });
  for (const [role] of verifiers) out(`login enabled for ${role}`);
}
