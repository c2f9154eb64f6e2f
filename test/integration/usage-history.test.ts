// The accounting history (issue 16, migration 0011) against a real Postgres and a real Redis with the
// services' ACL users: the api's recorder takes the agents' cumulative samples from pgw:usage into
// minute, hour and day buckets exactly once (a second api process, or a restarted one, adds nothing
// twice), counts restarted counters whole, skips stale samples, prunes by the retention settings;
// only the api's roles may touch it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { CLIENT_USAGE_KEY, type ClientUsageSampleRecord, connectRedis } from '@pgw/events';
import { createLogger } from '@pgw/log';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';
import { UsageRecorder } from '../../services/api/src/repositories/usage-recorder.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const logger = createLogger('usage-test', process.env.PGW_TEST_LOG_LEVEL ?? 'error');
const NOW = new Date('2026-12-01T12:00:30.000Z');
const since = '2026-12-01T00:00:00.000Z';

function sample(node: string, at: Date, clients: Record<string, [number, number, number]>, countersSince = since): ClientUsageSampleRecord {
  return {
    node, sampledAt: at.toISOString(), countersSince, sampleMs: 3,
    clients: Object.fromEntries(Object.entries(clients).map(([ip, [bytesUp, bytesDown, connections]], i) => [ip, { mappingId: i + 1, bytesUp, bytesDown, connections, quota: null, overQuota: false }])),
  };
}

describe('accounting history (migration 0011)', () => {
  let database: TestDatabase;
  let redisDir: string;
  let redisServer: RedisHandle;
  let admin: Redis;
  let apiRedis: Redis;
  let apiDb: Db;
  const recorders: UsageRecorder[] = [];
  const recorder = () => {
    const r = new UsageRecorder({ db: apiDb, redis: apiRedis, logger, now: () => NOW });
    recorders.push(r);
    return r;
  };
  const sums = async (table: string) =>
    (await sql<{ up: string; down: string; conn: string; n: string }>`SELECT coalesce(sum(bytes_up), 0) AS up, coalesce(sum(bytes_down), 0) AS down, coalesce(sum(connections), 0) AS conn, count(*) AS n FROM ${sql.table(table)}`.execute(database.db)).rows[0]!;

  before(async () => {
    database = await createTestDatabase({ prefix: 'pgw_usage' });
    redisDir = mkdtempSync(join(tmpdir(), 'pgw-usage-test-'));
    redisServer = await startRedis({ dir: redisDir });
    admin = connectRedis(redisServer.adminUrl);
    apiRedis = connectRedis(redisServer.url('api'));
    apiDb = createDb(database.urlFor('pgw_api'), { applicationName: 'usage-test', maxConnections: 2 });
  });
  after(async () => {
    for (const r of recorders) await r.stop();
    admin?.disconnect();
    apiRedis?.disconnect();
    await apiDb?.destroy();
    await redisServer?.stop();
    if (redisDir) rmSync(redisDir, { recursive: true, force: true });
    await database?.drop();
  });

  it('takes each sample once into minute, hour and day buckets, whichever api process reads it', async () => {
    const first = recorder();
    await admin.hset(CLIENT_USAGE_KEY, 'gw-a', JSON.stringify(sample('gw-a', new Date(NOW.getTime() - 20_000), { '192.168.2.10': [1_000, 10_000, 4], '192.168.2.11': [0, 0, 0] })));
    assert.equal((await first.poll()).length, 1);
    await admin.hset(CLIENT_USAGE_KEY, 'gw-a', JSON.stringify(sample('gw-a', new Date(NOW.getTime() - 10_000), { '192.168.2.10': [1_500, 30_000, 5], '192.168.2.11': [0, 0, 0] })));
    const second = recorder();
    assert.equal((await second.poll()).length, 1, 'another process takes the new sample');
    assert.equal((await first.poll()).length, 0, 'and the first one does not take it again');
    for (const table of ['usage_minute', 'usage_hour', 'usage_day']) {
      assert.deepEqual({ ...(await sums(table)) }, { up: '1500', down: '30000', conn: '5', n: '1' }, table);
    }
    const { rows } = await sql<{ bucket: Date; mappingId: number }>`SELECT bucket, mapping_id FROM usage_hour`.execute(database.db);
    assert.deepEqual([rows[0]!.bucket.toISOString(), rows[0]!.mappingId], ['2026-12-01T12:00:00.000Z', 1]);
  });

  it('counts restarted counters whole and takes nothing from a stale sample', async () => {
    const r = recorder();
    // The node restarted: its counters start again from zero at a new countersSince.
    await admin.hset(CLIENT_USAGE_KEY, 'gw-a', JSON.stringify(sample('gw-a', new Date(NOW.getTime() - 5_000), { '192.168.2.10': [100, 200, 1] }, '2026-12-01T12:00:20.000Z')));
    await admin.hset(CLIENT_USAGE_KEY, 'gw-b', JSON.stringify(sample('gw-b', new Date(NOW.getTime() - 120_000), { '192.168.2.12': [9, 9, 9] })));
    assert.deepEqual((await r.poll()).map((s) => s.node), ['gw-a']);
    assert.deepEqual({ ...(await sums('usage_minute')) }, { up: '1600', down: '30200', conn: '6', n: '1' });
    await admin.hdel(CLIENT_USAGE_KEY, 'gw-b');
  });

  it('prunes buckets past the retention settings', async () => {
    await sql`UPDATE settings SET usage_minute_retention_hours = 1, usage_hour_retention_days = 2, usage_day_retention_days = 3`.execute(database.db);
    const old = (hoursAgo: number, table: string) =>
      sql`INSERT INTO ${sql.table(table)} (client_ip, bucket, mapping_id, bytes_up, bytes_down, connections) VALUES ('192.168.2.20', ${NOW}::timestamptz - make_interval(hours => ${hoursAgo}), 9, 1, 1, 1)`.execute(database.db);
    await old(2, 'usage_minute');
    await old(49, 'usage_hour');
    await old(73, 'usage_day');
    await old(47, 'usage_hour');
    await recorder().poll();
    const left = await sql<{ t: string; n: string }>`SELECT 'm' AS t, count(*) AS n FROM usage_minute WHERE client_ip = '192.168.2.20' UNION ALL SELECT 'h', count(*) FROM usage_hour WHERE client_ip = '192.168.2.20' UNION ALL SELECT 'd', count(*) FROM usage_day WHERE client_ip = '192.168.2.20'`.execute(database.db);
    assert.deepEqual(left.rows.map((r) => `${r.t}${r.n}`), ['m0', 'h1', 'd0']);
    await assert.rejects(sql`UPDATE settings SET usage_minute_retention_hours = 0`.execute(database.db), /violates check constraint/);
  });

  it('only the api may read or write the history; its Redis user may read pgw:usage and not write it', async () => {
    for (const role of ['pgw_agent', 'pgw_forwarder', 'pgw_health'] as const) {
      const db = createDb(database.urlFor(role), { applicationName: 'usage-test', maxConnections: 1 });
      try {
        for (const table of ['usage_minute', 'usage_hour', 'usage_day', 'usage_cursor']) {
          await assert.rejects(sql`SELECT 1 FROM ${sql.table(table)} LIMIT 1`.execute(db), /permission denied/, `${role} ${table}`);
        }
      } finally {
        await db.destroy();
      }
    }
    await assert.rejects(apiRedis.hset(CLIENT_USAGE_KEY, 'gw-x', '{}'), /NOPERM/);
    await assert.rejects(apiRedis.hgetall('pgw:other'), /NOPERM/);
  });
});
