// Probes of one proxy overlap (periodic, on demand, upstream failure, liveness: each its own job)
// and finish in any order: a probe that timed out after 5 s records after a later one that
// answered at once, a success held back by its UDP check records after the liveness watch saw the
// proxy die. The status must follow the order the probes started in, by Postgres' clock (read with
// the row before the dial), not the order they finish: a result older than the one the status
// holds goes into the history only. (Repository level, health role, real Postgres.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { findProxy, recordProbe } from '../../services/health/src/repositories/proxies.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const THRESHOLDS = { failThreshold: 1, recoverThreshold: 1 };

describe('probe results are applied in the order the probes started (health role, real Postgres)', () => {
  let database: TestDatabase;
  let health: Db;
  before(async () => {
    database = await createTestDatabase({ prefix: 'pgw_horder' });
    health = createDb(database.urlFor('pgw_health'), { applicationName: 'pgw-test-health-order' });
  });
  after(async () => {
    await health?.destroy();
    await database?.drop();
  });

  const addProxy = async (name: string) => (await database.db.insertInto('proxies').values({ name, protocol: 'socks5', host: '198.51.100.10', port: 1080 }).returning('id').executeTakeFirstOrThrow()).id;
  const record = (proxyId: number, probed: NonNullable<Awaited<ReturnType<typeof findProxy>>>, ok: boolean) =>
    recordProbe(health, { proxyId, trigger: 'periodic', checkedAt: new Date(), ok, latencyMs: ok ? 5 : null, exitIp: ok ? '198.51.100.10' : null, error: ok ? null : 'connect_failed', probed }, THRESHOLDS);
  const rowOf = (id: number) => database.db.selectFrom('proxies').select(['status', 'consecutiveSuccesses', 'consecutiveFailures', 'lastError']).where('id', '=', id).executeTakeFirstOrThrow();
  const historyOf = async (id: number) => (await database.db.selectFrom('proxyChecks').select('ok').where('proxyId', '=', id).orderBy('id').execute()).map((c) => c.ok);

  it('a success that dialed before a later probe saw the proxy dead does not bring it up when it records last', async () => {
    const id = await addProxy('died');
    const early = (await findProxy(health, id))!; // a probe dials, answers, then waits (its UDP check)
    const late = (await findProxy(health, id))!; // the proxy dies; the liveness watch sees it
    assert.ok(early.readAt < late.readAt, `read in order to the microsecond: ${early.readAt}, ${late.readAt}`);
    assert.ok(!('skipped' in (await record(id, late, false))));
    assert.equal((await rowOf(id)).status, 'down');
    const superseded = await record(id, early, true);
    assert.deepEqual(superseded, { skipped: 'superseded' });
    assert.deepEqual(await rowOf(id), { status: 'down', consecutiveSuccesses: 0, consecutiveFailures: 1, lastError: 'connect_failed' }, 'the status is the later probe\'s');
    assert.deepEqual(await historyOf(id), [false, true], 'both probes are in the history');
  });

  it('a failure that dialed before a later probe found the proxy back does not take it down when it records last', async () => {
    const id = await addProxy('back');
    const timingOut = (await findProxy(health, id))!; // its SYNs lost while the host was away
    const answered = (await findProxy(health, id))!; // the host is back: answered at once
    await record(id, answered, true);
    assert.deepEqual(await record(id, timingOut, false), { skipped: 'superseded' });
    assert.equal((await rowOf(id)).status, 'up');
  });

  it('probes recorded in the order they started are all applied (the positive control)', async () => {
    const id = await addProxy('in-order');
    await record(id, (await findProxy(health, id))!, true);
    await record(id, (await findProxy(health, id))!, false);
    await record(id, (await findProxy(health, id))!, true);
    assert.deepEqual(await rowOf(id), { status: 'up', consecutiveSuccesses: 1, consecutiveFailures: 0, lastError: null });
    assert.deepEqual(await historyOf(id), [true, false, true]);
  });
});
