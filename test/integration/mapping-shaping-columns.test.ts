// Migration 0009 (issue 16) against a real Postgres: the bounds of a mapping's limits hold in the
// database as in @pgw/domain, the agent's role reads them and cannot write them (nor reset a quota).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { QUOTA_BYTES_MAX, QUOTA_BYTES_MIN, RATE_KBIT_MAX, RATE_KBIT_MIN } from '@pgw/domain';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('mappings shaping columns (migration 0009)', () => {
  let database: TestDatabase;
  let agent: Db;
  let mappingId: number;
  const set = (column: string, value: number | string | null) => sql`UPDATE mappings SET ${sql.ref(column)} = ${value} WHERE id = ${mappingId}`.execute(database.db);

  before(async () => {
    database = await createTestDatabase({ prefix: 'pgw_shaping' });
    agent = createDb(database.urlFor('pgw_agent'), { applicationName: 'shaping-test', maxConnections: 1 });
    await sql`INSERT INTO proxies (name, protocol, host, port) VALUES ('p', 'socks5', '198.51.100.10', 1080)`.execute(database.db);
    const { rows } = await sql<{ id: number }>`INSERT INTO mappings (client_ip, proxy_id, listen_port) SELECT '192.168.2.10', id, 20000 FROM proxies RETURNING id`.execute(database.db);
    mappingId = rows[0]!.id;
  });
  after(async () => {
    await agent?.destroy();
    await database?.drop();
  });

  it('a new mapping is unlimited, epoch 0', async () => {
    const { rows } = await sql<Record<string, unknown>>`SELECT rate_down_kbit, rate_up_kbit, quota_bytes, quota_epoch FROM mappings WHERE id = ${mappingId}`.execute(agent);
    // createDb maps column names to camelCase.
    assert.deepEqual(rows[0], { rateDownKbit: null, rateUpKbit: null, quotaBytes: null, quotaEpoch: 0 });
  });

  it('refuses rates and quotas outside the domain bounds, accepts the bounds themselves', async () => {
    for (const column of ['rate_down_kbit', 'rate_up_kbit']) {
      await assert.rejects(set(column, RATE_KBIT_MIN - 1), /violates check constraint/);
      await assert.rejects(set(column, RATE_KBIT_MAX + 1), /violates check constraint/);
      await set(column, RATE_KBIT_MIN);
      await set(column, RATE_KBIT_MAX);
    }
    await assert.rejects(set('quota_bytes', QUOTA_BYTES_MIN - 1), /violates check constraint/);
    await assert.rejects(set('quota_bytes', String(QUOTA_BYTES_MAX + 1)), /violates check constraint/);
    await set('quota_bytes', QUOTA_BYTES_MIN);
    await set('quota_bytes', String(QUOTA_BYTES_MAX));
    await assert.rejects(set('quota_epoch', -1), /violates check constraint/);
  });

  it("the agent's role reads the limits and cannot change them or reset a quota", async () => {
    const { rows } = await sql<{ quotaBytes: string }>`SELECT quota_bytes FROM mappings WHERE id = ${mappingId}`.execute(agent);
    assert.equal(rows[0]!.quotaBytes, String(QUOTA_BYTES_MAX));
    await assert.rejects(sql`UPDATE mappings SET quota_epoch = quota_epoch + 1`.execute(agent), /permission denied/);
    await assert.rejects(sql`UPDATE mappings SET rate_down_kbit = NULL`.execute(agent), /permission denied/);
  });
});
