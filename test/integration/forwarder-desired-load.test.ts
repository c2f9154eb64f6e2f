// The forwarder's desired-state read against real Postgres (as its role pgw_forwarder), when the
// settings row is one the domain schema refuses (only a writer past the api can store one): with
// the settings it read before, those stand in and the proxies and mappings are still read, so a
// re-pointed or removed mapping does not wait for the row to be fixed; without them, nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db, loadDesiredStateWithCredentials } from '@pgw/db';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('forwarder desired-state load with a settings row the schema refuses', () => {
  let tdb: TestDatabase;
  let forwarderDb: Db;
  let proxyId: number;

  before(async () => {
    tdb = await createTestDatabase();
    forwarderDb = createDb(tdb.urlFor('pgw_forwarder'), { applicationName: 'pgw-forwarder-test', maxConnections: 1 });
    proxyId = (await tdb.db.insertInto('proxies').values({ name: 'p', protocol: 'socks5', host: '198.51.100.10', port: 1080, status: 'up' }).returning('id').executeTakeFirstOrThrow()).id;
  });
  after(async () => {
    await forwarderDb?.destroy();
    await tdb?.drop();
  });

  it('keeps the settings read before, names the problem, and reads the rest; without settings read before it fails', async () => {
    const first = await loadDesiredStateWithCredentials(forwarderDb);
    assert.equal(first.settingsRefused, null);
    // Past the api's validation and the table's own checks, as a hand edit could leave it.
    await sql`UPDATE settings SET lan_interface = 'lo' WHERE id = 1`.execute(tdb.db);
    try {
      await tdb.db.updateTable('proxies').set({ host: '198.51.100.11' }).where('id', '=', proxyId).execute();
      const read = await loadDesiredStateWithCredentials(forwarderDb, first.state.settings);
      assert.match(read.settingsRefused ?? '', /^lanInterface: "lo" cannot be used/);
      assert.equal(read.state.settings, first.state.settings, 'the settings read before stand in');
      assert.equal(read.state.proxies[0]?.host, '198.51.100.11', 'the proxies are read all the same');
      await assert.rejects(loadDesiredStateWithCredentials(forwarderDb), /settings refused: lanInterface: "lo" cannot be used/);
    } finally {
      await sql`UPDATE settings SET lan_interface = ${first.state.settings.lanInterface} WHERE id = 1`.execute(tdb.db);
    }
    assert.equal((await loadDesiredStateWithCredentials(forwarderDb, first.state.settings)).settingsRefused, null, 'fixed: no problem any more');
  });
});
