// The agent's desired-state read against real Postgres (as its role pgw_agent): each table's rows
// are read again only when that table changed, so a proxy-status notice does not reload and
// revalidate every mapping (issue 13.1, 'load only what the notice can change').
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { sql } from 'kysely';
import { loadDesiredStateIfChanged } from '../../services/agent/src/repositories/desired-state.js';
import type { LoadedRows } from '../../services/agent/src/policy/desired-source.js';
import { SettingsRefused } from '../../services/agent/src/policy/build-policy.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('agent desired-state load', () => {
  let tdb: TestDatabase;
  let agentDb: Db;
  let proxyId: number;

  before(async () => {
    tdb = await createTestDatabase();
    agentDb = createDb(tdb.urlFor('pgw_agent'), { applicationName: 'pgw-agent-test', maxConnections: 1 });
    proxyId = (await tdb.db.insertInto('proxies').values({ name: 'p', protocol: 'socks5', host: '198.51.100.10', port: 1080, status: 'up' }).returning('id').executeTakeFirstOrThrow()).id;
    const rows = Array.from({ length: 300 }, (_, i) => ({ clientIp: `10.0.${(i + 1) >> 8}.${(i + 1) & 255}`, proxyId, listenPort: 20000 + i, enabled: true, description: '' }));
    await tdb.db.insertInto('mappings').values(rows).execute();
  });
  after(async () => {
    await agentDb?.destroy();
    await tdb?.drop();
  });

  const load = async (known: LoadedRows | null): Promise<LoadedRows> => {
    const { fingerprint, state } = await loadDesiredStateIfChanged(agentDb, known);
    return { fingerprint, state: state ?? known!.state };
  };

  it('reads nothing again when nothing changed, only the proxies after a status change, the mappings after a mapping change', async () => {
    const first = await load(null);
    assert.equal(first.state.mappings.length, 300);

    const same = await loadDesiredStateIfChanged(agentDb, first);
    assert.deepEqual(same, { fingerprint: first.fingerprint, state: null });

    await tdb.db.updateTable('proxies').set({ status: 'down' }).where('id', '=', proxyId).execute();
    const proxyDown = await load(first);
    assert.notEqual(proxyDown.fingerprint, first.fingerprint);
    assert.equal(proxyDown.state.proxies[0]?.status, 'down');
    assert.equal(proxyDown.state.mappings, first.state.mappings, 'the mappings are the ones already loaded, not read again');
    assert.equal(proxyDown.state.settings, first.state.settings);

    await tdb.db.updateTable('mappings').set({ enabled: false }).where('listenPort', '=', 20007).execute();
    const mappingOff = await load(proxyDown);
    assert.notEqual(mappingOff.state.mappings, proxyDown.state.mappings);
    assert.equal(mappingOff.state.mappings.find((m) => m.listenPort === 20007)?.enabled, false);
    assert.equal(mappingOff.state.proxies, proxyDown.state.proxies);

    await tdb.db.updateTable('settings').set({ lanCidr: '10.0.0.0/16' }).where('id', '=', 1).execute();
    const settingsChanged = await load(mappingOff);
    assert.equal(settingsChanged.state.settings.lanCidr, '10.0.0.0/16');
    assert.equal(settingsChanged.state.mappings, mappingOff.state.mappings);
  });

  it('a load scoped to the tables a notice can change does not look at the others (not even their fingerprint)', async () => {
    const before = await load(null);
    await tdb.db.updateTable('mappings').set({ enabled: true }).where('listenPort', '=', 20009).execute();
    await tdb.db.updateTable('mappings').set({ enabled: false }).where('listenPort', '=', 20009).execute();
    await tdb.db.updateTable('proxies').set({ status: 'up' }).where('id', '=', proxyId).execute();
    const proxiesOnly = await loadDesiredStateIfChanged(agentDb, before, new Set(['proxies']));
    assert.equal(proxiesOnly.state?.proxies[0]?.status, 'up');
    assert.equal(proxiesOnly.state?.mappings, before.state.mappings, 'the mapping change is not seen by a proxy notice’s load');
    assert.equal(proxiesOnly.fingerprint.split('.')[2], before.fingerprint.split('.')[2]);
    const all = await load({ fingerprint: proxiesOnly.fingerprint, state: proxiesOnly.state! });
    assert.equal(all.state.mappings.find((m) => m.listenPort === 20009)?.enabled, false, 'the next full load (the resync) sees it');
  });

  it('a proxies-only load (one statement) gives the same rows and fingerprint as the full read', async () => {
    const before = await load(null);
    await tdb.db.insertInto('proxies').values({ name: 'q', protocol: 'http', host: 'proxy.example', port: 3128, status: 'unknown' }).execute();
    await tdb.db.updateTable('proxies').set({ status: 'down' }).where('id', '=', proxyId).execute();
    const fast = await loadDesiredStateIfChanged(agentDb, before, new Set(['proxies']));
    const full = await loadDesiredStateIfChanged(agentDb, null);
    assert.deepEqual(fast.state?.proxies, full.state?.proxies);
    assert.equal(fast.fingerprint, full.fingerprint);
    assert.deepEqual(await loadDesiredStateIfChanged(agentDb, { fingerprint: fast.fingerprint, state: fast.state! }), { fingerprint: fast.fingerprint, state: null }, 'nothing changed for the next full load');
    assert.deepEqual(await loadDesiredStateIfChanged(agentDb, { fingerprint: fast.fingerprint, state: fast.state! }, new Set(['proxies'])), { fingerprint: fast.fingerprint, state: null });
  });

  it('a change that moves a value from one nullable column to the next changes the fingerprint (a rate limit swapped to the other direction, a rate that becomes a quota)', async () => {
    const set = (columns: string) => sql.raw(`UPDATE mappings SET ${columns} WHERE listen_port = 20011`).execute(tdb.db);
    await set('rate_down_kbit = 5000000, rate_up_kbit = NULL, quota_bytes = NULL');
    const down = await load(null);
    await set('rate_down_kbit = NULL, rate_up_kbit = 5000000, quota_bytes = NULL');
    const up = await loadDesiredStateIfChanged(agentDb, down);
    assert.notEqual(up.fingerprint, down.fingerprint, 'the swap to the other direction is seen');
    assert.equal(up.state?.mappings.find((m) => m.listenPort === 20011)?.shaping?.rateUpKbit, 5_000_000);
    await set('rate_down_kbit = NULL, rate_up_kbit = NULL, quota_bytes = 5000000');
    const quota = await loadDesiredStateIfChanged(agentDb, { fingerprint: up.fingerprint, state: up.state! });
    assert.notEqual(quota.fingerprint, up.fingerprint, 'the rate that became a quota is seen');
    await set('rate_down_kbit = NULL, rate_up_kbit = NULL, quota_bytes = NULL');
  });

  it('a settings row the schema refuses (written past the api): the settings read before stand in, with the refusal, and the proxies still load; refused whole on a cold start', async () => {
    const first = await load(null);
    // Past the api's validation and the table's own checks, as a hand edit could leave it.
    await sql`UPDATE settings SET lan_interface = 'lo' WHERE id = 1`.execute(tdb.db);
    try {
      await tdb.db.updateTable('proxies').set({ status: 'down' }).where('id', '=', proxyId).execute();
      const read = await loadDesiredStateIfChanged(agentDb, first);
      assert.deepEqual(read.settingsRefused, [{ subject: 'lanInterface', reason: 'lanInterface: "lo" cannot be used: it is the loopback interface' }]);
      assert.equal(read.state?.settings, first.state.settings, 'the settings read before stand in');
      assert.equal(read.state?.proxies[0]?.status, 'down', 'the rest of the desired state is read');
      // Known as refused: a later read keeps saying so, the proxies-only read too.
      const known = { fingerprint: read.fingerprint, state: read.state!, settingsRefused: read.settingsRefused! };
      await tdb.db.updateTable('proxies').set({ status: 'up' }).where('id', '=', proxyId).execute();
      const proxiesOnly = await loadDesiredStateIfChanged(agentDb, known, new Set(['proxies']));
      assert.deepEqual(proxiesOnly.settingsRefused, read.settingsRefused);
      assert.equal(proxiesOnly.state?.proxies[0]?.status, 'up');
      await tdb.db.updateTable('mappings').set({ enabled: false }).where('listenPort', '=', 20011).execute();
      const full = await loadDesiredStateIfChanged(agentDb, known);
      assert.equal(full.state?.mappings.find((m) => m.listenPort === 20011)?.enabled, false);
      assert.deepEqual(full.settingsRefused, read.settingsRefused);
      await assert.rejects(loadDesiredStateIfChanged(agentDb, null), (error: unknown) => error instanceof SettingsRefused && /loopback/.test(error.message));
    } finally {
      await sql`UPDATE settings SET lan_interface = ${first.state.settings.lanInterface} WHERE id = 1`.execute(tdb.db);
      await tdb.db.updateTable('proxies').set({ status: 'up' }).where('id', '=', proxyId).execute();
      await tdb.db.updateTable('mappings').set({ enabled: true }).where('listenPort', '=', 20011).execute();
    }
  });

  it('reads every table again from a cold start, whatever it loaded before', async () => {
    const cold = await load(null);
    const again = await load(null);
    assert.notEqual(again.state.mappings, cold.state.mappings);
    assert.deepEqual(again.state, cold.state);
  });
});
