// An admin's request that is still running when that admin is demoted, has their password reset or
// is deleted changes nothing: the role was checked once at the start, and a mapping create waits
// for its proxy's probe (up to the probe timeout) before its transaction; a compromised admin's
// demotion did not stop a write already past the check (review). Real Postgres and Redis; a BullMQ
// worker on the harness's queue prefix stands in for the health service and holds the probe open.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectRedis, PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { Worker } from 'bullmq';
import { ADMIN, ApiHarness } from './api-harness.js';

const BOB = { username: 'bob-admin', password: 'bob-password-1234' };

describe('a write whose admin changed while it ran', () => {
  let h: ApiHarness;
  let proxyId: number;
  let held: Array<() => void> = [];
  let jobs = 0;
  let worker: Worker<ProbeJobData, ProbeResult>;
  const connection = connectRedis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });

  before(async () => {
    h = await ApiHarness.start({}, { probeWaitMarginMs: 5_000 });
    await h.db.updateTable('settings').set({ probeTimeoutMs: 10_000 }).where('id', '=', 1).execute();
    const alice = await h.login(ADMIN);
    const created = await h.call('POST', '/api/v1/proxies', { auth: { session: alice }, body: { name: 'held', protocol: 'socks5', host: '198.51.100.10', port: 1080 } });
    proxyId = (created.body as { id: number }).id;
    worker = new Worker<ProbeJobData, ProbeResult>(PROBE_QUEUE, async (job) => {
      jobs++;
      await new Promise<void>((release) => held.push(release));
      return { proxyId: job.data.proxyId, ok: true, latencyMs: 5, exitIp: '198.51.100.10', error: null, checkedAt: new Date().toISOString() };
    }, { connection, prefix: h.queuePrefix });
    await worker.waitUntilReady();
  });
  after(async () => {
    for (const release of held) release();
    await worker?.close();
    connection.disconnect();
    await h?.stop();
  });

  async function until(what: string, check: () => boolean): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`${what}: not within 20 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // Bob's own password is no longer changed through this route (403, api-user-own-password.test.ts):
  // the change that waits for its hash is a reset of another account's password.
  it("a demoted admin's password reset waiting for its hash commits nothing: the demotion stands, the password is unchanged (review)", async () => {
    const alice = await h.login(ADMIN);
    const name = `${BOB.username}-self`;
    const made = await h.call('POST', '/api/v1/users', { auth: { session: alice }, body: { ...BOB, username: name, role: 'admin', currentPassword: ADMIN.password } });
    const bobId = (made.body as { id: number }).id;
    const carol = await h.call('POST', '/api/v1/users', { auth: { session: alice }, body: { username: 'carol-midway', password: 'carol-password-123', role: 'viewer', currentPassword: ADMIN.password } });
    const carolId = (carol.body as { id: number }).id;
    const carolHash = async () => (await h.db.selectFrom('users').select('passwordHash').where('id', '=', carolId).executeTakeFirstOrThrow()).passwordHash;
    const hashBefore = await carolHash();
    const bob = await h.login({ ...BOB, username: name });
    // The argon2 gate (one at a time) busy with four logins: Bob's hash waits its turn behind them.
    const logins = Array.from({ length: 4 }, (_, i) => h.call('POST', '/api/v1/auth/login', { body: { username: `nobody-${i}`, password: 'not-a-password-1' } }));
    const reset = h.call('PATCH', `/api/v1/users/${carolId}`, { auth: { session: bob }, body: { password: 'carol-new-password-1', currentPassword: BOB.password } });
    const demoted = await h.call('PATCH', `/api/v1/users/${bobId}`, { auth: { session: alice }, body: { role: 'viewer' } });
    assert.equal(demoted.status, 200, JSON.stringify(demoted.body));
    const res = await reset;
    await Promise.all(logins);
    assert.equal(res.status, 401, `bob's reset after his demotion: ${res.status} ${JSON.stringify(res.body)}`);
    const row = await h.db.selectFrom('users').select(['role']).where('id', '=', bobId).executeTakeFirstOrThrow();
    assert.equal(row.role, 'viewer', 'the demotion stands');
    assert.equal(await carolHash(), hashBefore, "carol's password is unchanged");
  });

  for (const change of ['demoted', 'password reset', 'deleted'] as const) {
    it(`${change} while a mapping create waits for its probe: 401, nothing stored, nothing audited`, async () => {
      const alice = await h.login(ADMIN);
      const made = await h.call('POST', '/api/v1/users', { auth: { session: alice }, body: { ...BOB, username: `${BOB.username}-${jobs}`, role: 'admin', currentPassword: ADMIN.password } });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const bobId = (made.body as { id: number }).id;
      const bob = await h.login({ ...BOB, username: `${BOB.username}-${jobs}` });
      const before = jobs;
      const clientIp = `192.168.2.${50 + jobs}`;
      const pending = h.call('POST', '/api/v1/mappings', { auth: { session: bob }, body: { clientIp, proxyId } });
      // Whatever fails below, the held probe is let go: the one worker would hold the next cases' too.
      try {
        await until('the probe reached the worker', () => jobs > before);
        if (change === 'deleted') assert.equal((await h.call('DELETE', `/api/v1/users/${bobId}`, { auth: { session: alice } })).status, 204);
        else assert.equal((await h.call('PATCH', `/api/v1/users/${bobId}`, { auth: { session: alice }, body: change === 'demoted' ? { role: 'viewer' } : { password: 'reset-by-alice-123', currentPassword: ADMIN.password } })).status, 200);
        held.shift()!();
        const res = await pending;
        assert.equal(res.status, 401, `bob's create after he was ${change}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal(await h.db.selectFrom('mappings').select('id').where('clientIp', '=', clientIp).executeTakeFirst(), undefined, 'no mapping stored');
        const audited = await h.db.selectFrom('auditLog').select('id').where('actorUsername', '=', `${BOB.username}-${jobs - 1}`).where('entityType', '=', 'mapping').execute();
        assert.deepEqual(audited, [], 'no audit row of his');
      } finally {
        for (const release of held.splice(0)) release();
      }
    });
  }
});
