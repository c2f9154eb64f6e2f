// The hold-down of a backup move (issue 17) ages a proxy's status by Postgres' clock
// (packages/db desired-state: now() - status_changed_at). So the health service must stamp a
// status change with that same clock, not its own: a health host 60 s behind would otherwise make
// a just-recovered primary look settled at once, skip the hold-down and flap clients back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { sql } from 'kysely';
import { findProxy, recordProbe } from '../../services/health/src/repositories/proxies.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('a status change is stamped by Postgres\' clock (health role, real Postgres)', () => {
  let database: TestDatabase;
  let health: Db;
  before(async () => {
    database = await createTestDatabase({ prefix: 'pgw_hclock' });
    health = createDb(database.urlFor('pgw_health'), { applicationName: 'pgw-test-health' });
  });
  after(async () => {
    await health?.destroy();
    await database?.drop();
  });

  it('a probe whose host clock is 60 s behind still sets status_changed_at to the database\'s now', async () => {
    const { id } = await database.db.insertInto('proxies').values({ name: 'clock', protocol: 'socks5', host: '198.51.100.10', port: 1080 }).returning('id').executeTakeFirstOrThrow();
    const behind = new Date(Date.now() - 60_000);
    const probed = (await findProxy(health, id))!;
    const recorded = await recordProbe(health, { proxyId: id, trigger: 'periodic', checkedAt: behind, ok: true, latencyMs: 5, exitIp: '198.51.100.10', error: null, probed }, { failThreshold: 1, recoverThreshold: 1 });
    assert.ok(!('skipped' in recorded), 'recorded');
    assert.equal(recorded.next.status, 'up');
    const { ageS } = await sql<{ ageS: number }>`select extract(epoch from now() - status_changed_at)::float8 as "ageS" from proxies where id = ${id}`.execute(database.db).then((r) => r.rows[0]!);
    assert.ok(Math.abs(ageS) < 5, `the status is ${ageS.toFixed(1)} s old by the database's clock right after it changed`);
    const checked = await database.db.selectFrom('proxies').select('lastCheckedAt').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(checked.lastCheckedAt?.getTime(), behind.getTime(), 'the probe\'s own time is kept as when it was checked');
  });
});
