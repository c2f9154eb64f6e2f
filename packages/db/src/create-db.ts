import { CamelCasePlugin, Kysely, PostgresDialect, type PostgresPool, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { readLoginFacts, type ServiceRole, ServiceRoleError, serviceRoleProblem } from './service-role.js';

export interface DbOptions {
  /** Shown in pg_stat_activity, so an operator sees which service holds a connection. */
  applicationName: string;
  maxConnections?: number;
  /**
   * The role a service's login must be (or be a member of) and hold no more than: each new
   * connection is checked before its first query, and refused with a ServiceRoleError naming why.
   */
  serviceRole?: ServiceRole;
}

export type Db = Kysely<Database>;

export function createDb(url: string, options: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString: url,
    application_name: options.applicationName,
    max: options.maxConnections ?? 5,
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its server must not crash the service; the next query reconnects.
  pool.on('error', () => undefined);
  // Nor one that is checked out (a query running, a transaction between queries): pg-pool removes
  // its idle listener then, and kysely adds none, so pg's 'error' event ("Connection terminated
  // unexpectedly" when Postgres restarts or terminates the backend) would be thrown. The query or
  // transaction on it fails with the error; the pool drops the dead client when it is released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const dialectPool = options.serviceRole === undefined ? pool : roleCheckedPool(pool, options.serviceRole);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: dialectPool }), plugins: [new CamelCasePlugin()] });
}

/**
 * At a service's start: a login that holds more than its role is refused at once (the service exits
 * naming why). Postgres not answering is no refusal: a service may start without it, and each
 * connection is judged when it comes.
 */
export async function refuseWiderLogin(db: Db): Promise<void> {
  try {
    await sql`SELECT 1`.execute(db);
  } catch (error) {
    if (error instanceof ServiceRoleError) throw error;
  }
}

/**
 * The pool as kysely sees it, each new client's login judged before it serves a query. Here and not
 * in kysely's onCreateConnection, which keeps a client whose hook threw checked out for ever.
 */
function roleCheckedPool(pool: pg.Pool, role: ServiceRole): PostgresPool {
  const judged = new WeakSet<pg.PoolClient>();
  return {
    connect: async () => {
      const client = await pool.connect();
      if (judged.has(client)) return client;
      let problem: string | null;
      try {
        problem = serviceRoleProblem(await readLoginFacts(client), role);
      } catch (error) {
        client.release(error as Error);
        throw error;
      }
      if (problem !== null) {
        client.release(true);
        throw new ServiceRoleError(problem);
      }
      judged.add(client);
      return client;
    },
    end: () => pool.end(),
  };
}
