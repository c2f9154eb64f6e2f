import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export interface DbOptions {
  /** Shown in pg_stat_activity, so an operator sees which service holds a connection. */
  applicationName: string;
  maxConnections?: number;
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
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] });
}
