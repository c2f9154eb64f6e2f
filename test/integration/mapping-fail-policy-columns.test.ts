// Migration 0013 (issue 17) against a real Postgres: a mapping's fail policy and backup list hold
// the domain's rules in the database, the array behaves like a foreign key (no unknown proxy, no
// delete of a listed backup), and the agent and the forwarder can read what chooseUpstream needs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('mappings fail policy columns (migration 0013)', () => {
  let database: TestDatabase;
  let agent: Db;
  let forwarder: Db;
  let api: Db;
  const ids: number[] = [];
  let mappingId: number;
  const setBackups = (db: Db, list: number[]) => sql`UPDATE mappings SET backup_proxy_ids = ${sql.raw(`'{${list.join(',')}}'`)}::integer[] WHERE id = ${mappingId}`.execute(db);

  before(async () => {
    database = await createTestDatabase({ prefix: 'pgw_failpolicy' });
    agent = createDb(database.urlFor('pgw_agent'), { applicationName: 'failpolicy-test', maxConnections: 1 });
    forwarder = createDb(database.urlFor('pgw_forwarder'), { applicationName: 'failpolicy-test', maxConnections: 1 });
    api = createDb(database.urlFor('pgw_api'), { applicationName: 'failpolicy-test', maxConnections: 1 });
    for (const name of ['a', 'b', 'c']) {
      const { rows } = await sql<{ id: number }>`INSERT INTO proxies (name, protocol, host, port) VALUES (${name}, 'socks5', '198.51.100.10', 1080) RETURNING id`.execute(database.db);
      ids.push(rows[0]!.id);
    }
    const { rows } = await sql<{ id: number }>`INSERT INTO mappings (client_ip, proxy_id, listen_port) VALUES ('192.168.2.10', ${ids[0]}, 20000) RETURNING id`.execute(database.db);
    mappingId = rows[0]!.id;
  });
  after(async () => {
    await Promise.all([agent?.destroy(), forwarder?.destroy(), api?.destroy()]);
    await database?.drop();
  });

  it('a mapping is fail-closed with no backups unless told; the hold-down defaults to 30 s', async () => {
    const { rows } = await sql<Record<string, unknown>>`SELECT fail_policy, backup_proxy_ids FROM mappings WHERE id = ${mappingId}`.execute(agent);
    assert.deepEqual(rows[0], { failPolicy: 'closed', backupProxyIds: [] });
    const settings = await sql<{ s: number }>`SELECT backup_hold_down_s AS s FROM settings`.execute(forwarder);
    assert.equal(settings.rows[0]!.s, 30);
    await assert.rejects(sql`UPDATE settings SET backup_hold_down_s = 3601`.execute(database.db), /violates check constraint/);
  });

  it('the api writes an ordered list; its order is kept', async () => {
    await sql`UPDATE mappings SET fail_policy = 'backup' WHERE id = ${mappingId}`.execute(api);
    await setBackups(api, [ids[2]!, ids[1]!]);
    const { rows } = await sql<{ backupProxyIds: number[] }>`SELECT backup_proxy_ids FROM mappings WHERE id = ${mappingId}`.execute(forwarder);
    assert.deepEqual(rows[0]!.backupProxyIds, [ids[2], ids[1]]);
  });

  it('refuses an unknown policy, an unknown proxy, a repeat, the own proxy, NULL and more than 8', async () => {
    await assert.rejects(sql`UPDATE mappings SET fail_policy = 'direct' WHERE id = ${mappingId}`.execute(database.db), /violates check constraint/);
    await assert.rejects(setBackups(database.db, [ids[1]!, 999_999]), /backup proxy does not exist/);
    await assert.rejects(setBackups(database.db, [ids[1]!, ids[1]!]), /listed twice/);
    await assert.rejects(setBackups(database.db, [ids[0]!]), /violates check constraint/);
    await assert.rejects(sql`UPDATE mappings SET backup_proxy_ids = '{NULL}' WHERE id = ${mappingId}`.execute(database.db), /violates check constraint/);
    await assert.rejects(setBackups(database.db, [1, 2, 3, 4, 5, 6, 7, 8, 9]), /violates check constraint/);
    const { rows } = await sql<{ backupProxyIds: number[] }>`SELECT backup_proxy_ids FROM mappings WHERE id = ${mappingId}`.execute(database.db);
    assert.deepEqual(rows[0]!.backupProxyIds, [ids[2], ids[1]], 'nothing changed');
  });

  it('a proxy listed as a backup cannot be deleted (like the primary), one no longer listed can', async () => {
    await assert.rejects(sql`DELETE FROM proxies WHERE id = ${ids[1]}`.execute(api), (e: Error & { code?: string }) => e.code === '23503');
    await setBackups(api, [ids[2]!]);
    await sql`DELETE FROM proxies WHERE id = ${ids[1]}`.execute(api);
  });

  it('the agent and the forwarder read the status age; neither can write the policy', async () => {
    for (const db of [agent, forwarder]) {
      await sql`SELECT status_changed_at FROM proxies`.execute(db);
      await assert.rejects(sql`UPDATE mappings SET fail_policy = 'closed'`.execute(db), /permission denied/);
    }
  });

  it('a temporary table named mappings cannot stand in for the real one: no service role makes temporary tables, every trigger function has its search_path', async () => {
    // pg_temp is searched first: the api's own temp table "mappings" hid the listed backup from the
    // delete trigger, and the proxy went (migration 0026).
    for (const db of [api, agent, forwarder]) await assert.rejects(sql`CREATE TEMP TABLE mappings (backup_proxy_ids integer[])`.execute(db), /permission denied/);
    await assert.rejects(sql`DELETE FROM public.proxies WHERE id = ${ids[2]}`.execute(api), (e: Error & { code?: string }) => e.code === '23503', 'still a listed backup');
    const { rows } = await sql<{ proname: string; proconfig: string[] | null }>`SELECT proname, proconfig FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prokind = 'f' ORDER BY proname`.execute(database.db);
    assert.ok(rows.length >= 6, rows.map((r) => r.proname).join(', '));
    for (const r of rows) assert.deepEqual(r.proconfig, ['search_path=pg_catalog, public, pg_temp'], r.proname);
  });
});
