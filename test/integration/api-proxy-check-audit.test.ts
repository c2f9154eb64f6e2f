// An on-demand probe (POST /api/v1/proxies/{id}/check) makes the health service dial the proxy with
// its decrypted credentials: an admin action, so it is audited like the writes, with its outcome,
// whether the probe answered or not (review: it left no row). Real Postgres and Redis; a BullMQ
// worker on the harness's queue prefix stands in for the health service.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectRedis, PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { Worker } from 'bullmq';
import { ADMIN, ApiHarness } from './api-harness.js';

describe('audit of on-demand proxy checks', () => {
  let h: ApiHarness;
  let proxyId: number;
  before(async () => {
    h = await ApiHarness.start({}, { probeWaitMarginMs: 300 });
    await h.db.updateTable('settings').set({ probeTimeoutMs: 1_000 }).where('id', '=', 1).execute();
    const admin = await h.login(ADMIN);
    const created = await h.call('POST', '/api/v1/proxies', { auth: { session: admin }, body: { name: 'audited', protocol: 'socks5', host: '198.51.100.10', port: 1080 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    proxyId = (created.body as { id: number }).id;
  });
  after(async () => h?.stop());

  const checkRows = () => h.db.selectFrom('auditLog').select(['action', 'entityType', 'entityId', 'actorUsername', 'after']).where('action', '=', 'check').orderBy('id').execute();

  it('a probe that answers: one row naming the admin, the proxy and the outcome', async () => {
    const connection = connectRedis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    const worker = new Worker<ProbeJobData, ProbeResult>(PROBE_QUEUE, async (job) => ({ proxyId: job.data.proxyId, ok: false, latencyMs: null, exitIp: null, error: 'socks5 connect: refused', checkedAt: new Date().toISOString() }), { connection, prefix: h.queuePrefix });
    try {
      await worker.waitUntilReady();
      const admin = await h.login(ADMIN);
      const res = await h.call('POST', `/api/v1/proxies/${proxyId}/check`, { auth: { session: admin } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    } finally {
      await worker.close();
      connection.disconnect();
    }
    assert.deepEqual(await checkRows(), [
      { action: 'check', entityType: 'proxy', entityId: String(proxyId), actorUsername: ADMIN.username, after: { ok: false, latencyMs: null, exitIp: null, error: 'socks5 connect: refused' } },
    ]);
  });

  it('a probe nobody answers: the request fails and the row says so', async () => {
    const admin = await h.login(ADMIN);
    const res = await h.call('POST', `/api/v1/proxies/${proxyId}/check`, { auth: { session: admin } });
    assert.ok(res.status >= 500, `status ${res.status}`);
    const rows = await checkRows();
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[1], { action: 'check', entityType: 'proxy', entityId: String(proxyId), actorUsername: ADMIN.username, after: { ok: false, error: 'no answer from the health service' } });
  });
});
