// The exit-IP history stays bounded (migration 0016): a proxy whose every probe leaves from a new
// address (a rotating pool) keeps its 1000 most recently seen addresses, not one row per probe
// for ever. Real Postgres, the health service's own role and writer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { sql } from 'kysely';
import { EXIT_IP_HISTORY_PER_PROXY, recordExitIp } from '../../services/health/src/repositories/exit-ips.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('exit-IP history cap (health role, real Postgres)', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let health: Db;
  before(async () => {
    database = await createTestDatabase({ prefix: 'pgw_exitcap' });
    health = createDb(database.urlFor('pgw_health'), { applicationName: 'pgw-test-health' });
  });
  after(async () => {
    await health?.destroy();
    await database?.drop();
  });

  it(`keeps the ${EXIT_IP_HISTORY_PER_PROXY} most recently seen addresses of a rotating proxy, and other proxies' rows`, async () => {
    const proxy = (name: string) => database.db.insertInto('proxies').values({ name, protocol: 'socks5', host: '198.51.100.10', port: 1080 }).returning('id').executeTakeFirstOrThrow();
    const rotating = (await proxy('rotating')).id;
    const steady = (await proxy('steady')).id;
    const start = Date.UTC(2026, 11, 1);
    await recordExitIp(health, steady, '203.0.113.7', new Date(start));
    const probes = EXIT_IP_HISTORY_PER_PROXY + 5;
    for (let i = 0; i < probes; i++) {
      await recordExitIp(health, rotating, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, new Date(start + i * 30_000));
    }
    // proxy_exit_ips is not in the shared kysely schema (the api and health read it by name).
    const addresses = async (proxyId: number) =>
      (await sql<{ exitIp: string }>`SELECT host(exit_ip) AS "exitIp" FROM proxy_exit_ips WHERE proxy_id = ${proxyId} ORDER BY last_seen`.execute(database.db)).rows;
    const rows = await addresses(rotating);
    assert.equal(rows.length, EXIT_IP_HISTORY_PER_PROXY);
    assert.equal(rows[0]!.exitIp, '10.0.0.5', 'the five addresses seen longest ago are gone');
    assert.equal(rows.at(-1)!.exitIp, `10.0.${((probes - 1) >> 8) & 255}.${(probes - 1) & 255}`);
    assert.deepEqual((await addresses(steady)).map((r) => r.exitIp), ['203.0.113.7']);
  });
});
