import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createDb, type Db, migrateToLatest } from '@pgw/db';
import { sql } from 'kysely';

export const SERVICE_ROLES = ['pgw_api', 'pgw_health', 'pgw_agent', 'pgw_forwarder'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

/** Local test cluster only: every service role gets this login password while tests run. */
export const TEST_ROLE_PASSWORD = process.env.PGW_TEST_ROLE_PASSWORD ?? 'pgw-test-role-password-not-a-secret';
const SOCKET_DIR = process.env.PGW_TEST_PG_SOCKET ?? '/var/run/postgresql';
const MIGRATIONS = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface TestDatabase {
  readonly name: string;
  /** Superuser connection to this database, for seeding and assertions. */
  readonly db: Db;
  readonly adminUrl: string;
  /** Connection URL for a service role: what a service under test gets as PGW_DATABASE_URL. */
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
  const admin = createDb(urlOf(process.env.PGW_TEST_PG_ADMIN_USER ?? 'root', null, 'postgres'), { applicationName: 'pgw-test', maxConnections: 1 });
  try {
    await sql`CREATE DATABASE ${sql.id(name)}`.execute(admin);
    for (const role of SERVICE_ROLES) {
      await sql`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${sql.lit(role)}) THEN CREATE ROLE ${sql.id(role)}; END IF; END $$`.execute(admin);
      await sql`ALTER ROLE ${sql.id(role)} LOGIN PASSWORD ${sql.lit(TEST_ROLE_PASSWORD)}`.execute(admin);
    }
  } finally {
    await admin.destroy();
  }
  const adminUrl = urlOf(process.env.PGW_TEST_PG_ADMIN_USER ?? 'root', null, name);
  const db = createDb(adminUrl, { applicationName: 'pgw-test', maxConnections: 3 });
  if (options.migrate ?? true) {
    const { error } = await migrateToLatest(db, MIGRATIONS);
    if (error) throw error;
  }
  return {
    name,
    db,
    adminUrl,
    urlFor: (role) => urlOf(role, TEST_ROLE_PASSWORD, name),
    drop: async () => {
      await db.destroy();
      const cleanup = createDb(urlOf(process.env.PGW_TEST_PG_ADMIN_USER ?? 'root', null, 'postgres'), { applicationName: 'pgw-test', maxConnections: 1 });
      try {
        await sql`DROP DATABASE IF EXISTS ${sql.id(name)} WITH (FORCE)`.execute(cleanup);
      } finally {
        await cleanup.destroy();
      }
    },
  };
}
