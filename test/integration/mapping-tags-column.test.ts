// Migration 0012 (issue 17) against a real Postgres: a mapping's tags hold @pgw/domain's spelling in
// the database (one group is never two spellings), at most 16, no NULL, no repeat; the api writes them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { MAX_MAPPING_TAGS } from '@pgw/domain';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('mappings tags column (migration 0012)', () => {
  let database: TestDatabase;
  let api: Db;
  let mappingId: number;
  const setTags = (list: (string | null)[]) => sql`UPDATE mappings SET tags = ${list}::text[] WHERE id = ${mappingId}`.execute(api);

  before(async () => {
    database = await createTestDatabase({ prefix: 'pgw_tags' });
    api = createDb(database.urlFor('pgw_api'), { applicationName: 'tags-test', maxConnections: 1 });
    const { rows: proxy } = await sql<{ id: number }>`INSERT INTO proxies (name, protocol, host, port) VALUES ('a', 'socks5', '198.51.100.10', 1080) RETURNING id`.execute(database.db);
    const { rows } = await sql<{ id: number }>`INSERT INTO mappings (client_ip, proxy_id, listen_port) VALUES ('192.168.2.10', ${proxy[0]!.id}, 20000) RETURNING id`.execute(database.db);
    mappingId = rows[0]!.id;
  });
  after(async () => {
    await api?.destroy();
    await database?.drop();
  });

  it('a mapping has no tags unless told; the api stores the domain spelling, up to the maximum', async () => {
    assert.deepEqual((await sql<{ tags: string[] }>`SELECT tags FROM mappings WHERE id = ${mappingId}`.execute(api)).rows[0]!.tags, []);
    const full = Array.from({ length: MAX_MAPPING_TAGS }, (_, i) => (i === 0 ? 'x'.repeat(32) : `floor-${i}.b_c`));
    await setTags(full);
    assert.deepEqual((await sql<{ tags: string[] }>`SELECT tags FROM mappings WHERE id = ${mappingId}`.execute(api)).rows[0]!.tags, full);
  });

  it('refuses a repeat, another spelling, an empty or too long tag, NULL and more than 16', async () => {
    for (const bad of [['a', 'a'], ['Floor-2'], ['floor 2'], [''], ['-x'], ['x'.repeat(33)], ['ok', null], Array.from({ length: MAX_MAPPING_TAGS + 1 }, (_, i) => `t${i}`)]) {
      await assert.rejects(setTags(bad), /mappings_tags_valid/, JSON.stringify(bad));
    }
  });
});
