// A service's Postgres connection terminated by the server (Postgres restarted, a failover, an
// admin's pg_terminate_backend) while a query runs on it or while a transaction holds it: the
// query fails, the process does not crash on pg's 'error' event of the checked-out client
// ("Connection terminated unexpectedly"), and the next query gets a new connection.
// Only the backends of this test's own database are terminated.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const APP = 'pgw-conn-lost-test';

describe('@pgw/db: a connection the server terminates', () => {
  let tdb: TestDatabase;
  let db: Db;
  const uncaught: Error[] = [];
  const onUncaught = (error: Error) => void uncaught.push(error);

  before(async () => {
    tdb = await createTestDatabase({ migrate: false });
    db = createDb(tdb.urlFor('pgw_agent'), { applicationName: APP, maxConnections: 1 });
    // What crashed the agent: without a listener, the client's 'error' event is thrown.
    process.on('uncaughtException', onUncaught);
  });
  after(async () => {
    process.off('uncaughtException', onUncaught);
    await db?.destroy();
    await tdb?.drop();
  });

  /** Terminates this service's backends, in this test's database only; resolves with how many. */
  async function terminate(): Promise<number> {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM (
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${tdb.name} AND application_name = ${APP}) t`.execute(tdb.db);
    return rows[0]!.n;
  }

  async function waitForBackend(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${tdb.name} AND application_name = ${APP} AND state = 'active'`.execute(tdb.db);
      if (rows[0]!.n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the service query never became active');
  }

  /** The client's 'error' event follows the socket's end: give it up to 1 s to show up. */
  async function settled(): Promise<void> {
    for (let i = 0; i < 100 && uncaught.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  it('during a query: the query fails, no uncaught error, the next query reconnects', async () => {
    // Handled from the start: under load the query fails before terminate() has returned, and a
    // rejection nothing handles yet fails the test (seen with the deploy tests running beside).
    const failed = assert.rejects(sql`SELECT pg_sleep(10)`.execute(db), /terminat/i);
    await waitForBackend();
    assert.equal(await terminate(), 1);
    await failed;
    await settled();
    assert.deepEqual(uncaught.map((e) => e.message), []);
    const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(db);
    assert.equal(rows[0]!.one, 1);
  });

  it('while a transaction holds the connection between queries: the transaction fails, no uncaught error, the next query reconnects', async () => {
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await sql`SELECT 1`.execute(trx);
        assert.equal(await terminate(), 1);
        await new Promise((resolve) => setTimeout(resolve, 200)); // the connection ends while no query runs
        await sql`SELECT 1`.execute(trx);
      }),
    );
    await settled();
    assert.deepEqual(uncaught.map((e) => e.message), []);
    const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(db);
    assert.equal(rows[0]!.one, 1);
  });
});
