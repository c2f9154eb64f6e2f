import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createDb, type Db, migrateToLatest } from '@pgw/db';
import { sql } from 'kysely';

import { SERVICE_ROLES, type ServiceRole } from '../../lab/services.js';

export { SERVICE_ROLES, type ServiceRole };

const SOCKET_DIR = process.env.PGW_TEST_PG_SOCKET ?? '/var/run/postgresql';
const MIGRATIONS = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface TestDatabase {
  readonly name: string;
  /** Superuser connection to this database, for seeding and assertions. */
  readonly db: Db;
  readonly adminUrl: string;
  /**
   * Connection URL with the privileges of a service role: what a service under test gets as
   * PGW_DATABASE_URL. The login is a per-database member of that role, so tests never change the
   * real (cluster-wide) service roles that a running pgw on the same machine logs in with.
   */
  urlFor(role: ServiceRole): string;
  drop(): Promise<void>;
}

function urlOf(user: string, password: string | null, database: string): string {
  const auth = password === null ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
  return `postgres://${auth}@/${database}?host=${encodeURIComponent(SOCKET_DIR)}`;
}

/** A fresh database per test file, migrated, with the service roles able to log in. Always drop() it. */
export async function createTestDatabase(options: { migrate?: boolean; prefix?: string } = {}): Promise<TestDatabase> {
  const prefix = options.prefix ?? 'pgw_t';
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const loginFor = (role: ServiceRole) => `${role}_${name}`;
  let db: Db | undefined;
  const drop = async () => {
    await db?.destroy();
    const cleanup = createDb(urlOf(process.env.PGW_TEST_PG_ADMIN_USER ?? 'root', null, 'postgres'), { applicationName: 'pgw-test', maxConnections: 1 });
    try {
      await sql`DROP DATABASE IF EXISTS ${sql.id(name)} WITH (FORCE)`.execute(cleanup);
      for (const role of SERVICE_ROLES) await sql`DROP ROLE IF EXISTS ${sql.id(loginFor(role))}`.execute(cleanup);
    } finally {
      await cleanup.destroy();
    }
  };
  const admin = createDb(urlOf(process.env.PGW_TEST_PG_ADMIN_USER ?? 'root', null, 'postgres'), { applicationName: 'pgw-test', maxConnections: 1 });
  try {
    // Logins of test databases that no longer exist (a run that was killed before its drop()).
    const stale = await sql<{ rolname: string }>`SELECT rolname FROM pg_roles
      WHERE rolname ~ '^pgw_(api|health|agent|forwarder)_pgw_'
        AND NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = regexp_replace(rolname, '^pgw_(api|health|agent|forwarder)_', ''))`.execute(admin);
    for (const { rolname } of stale.rows) await sql`DROP ROLE IF EXISTS ${sql.id(rolname)}`.execute(admin);
    await sql`CREATE DATABASE ${sql.id(name)}`.execute(admin);
    for (const role of SERVICE_ROLES) {
      // The service roles themselves are only created (NOLOGIN) when missing, never altered.
      await sql`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${sql.lit(role)}) THEN CREATE ROLE ${sql.id(role)} NOLOGIN; END IF; END $$`.execute(admin);
      await sql`CREATE ROLE ${sql.id(loginFor(role))} LOGIN INHERIT PASSWORD ${sql.lit(password)} IN ROLE ${sql.id(role)}`.execute(admin);
    }
  } catch (error) {
    // Half made (a role refused, say): dropped here, since the caller never gets drop().
    await admin.destroy();
    await drop().catch(() => undefined);
    throw error;
  }
  await admin.destroy();
  const adminUrl = urlOf(process.env.PGW_TEST_PG_ADMIN_USER ?? 'root', null, name);
  const migrated = createDb(adminUrl, { applicationName: 'pgw-test', maxConnections: 3 });
  db = migrated;
  if (options.migrate ?? true) {
    const { error } = await migrateToLatest(migrated, MIGRATIONS);
    if (error) {
      await drop().catch(() => undefined);
      throw error;
    }
  }
  return { name, db: migrated, adminUrl, urlFor: (role) => urlOf(loginFor(role), password, name), drop };
}
