// A mapping saved while another admin narrows the settings. The create and the edit checked the
// client and its port against settings read before their health probe, outside the write: a LAN
// or port range narrowed meanwhile (its own check counts only the mappings committed by then) left
// a stored mapping outside the settings, which the agent drops with no word to anyone. Real
// Postgres, the real health service and a dante (the health gate); the test holds the listen-port
// lock the save takes in its write, and narrows the LAN through the api meanwhile.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ApiHarness } from './api-harness.js';
import { useApiStack } from './api-stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('api: a mapping saved while the settings narrow', { timeout: 60_000 }, () => {
  const api = useApiStack();

  it('a create whose client the narrowed LAN no longer holds is refused, naming the client; nothing is stored', async () => {
    const proxy = await api.h.call('POST', '/api/v1/proxies', { ...api.as(api.admin), body: { name: 'race-proxy', url: api.stack.dante.url } });
    assert.equal(proxy.status, 201, proxy.text);
    const settings = (await api.h.call('GET', '/api/v1/settings', api.as(api.admin))).body;
    let creating: ReturnType<ApiHarness['call']> | undefined;
    let narrowed: Awaited<ReturnType<ApiHarness['call']>> | undefined;
    try {
      await api.h.db.transaction().execute(async (trx) => {
        // The save's write waits here, after its checks and its probe.
        await sql`SELECT pg_advisory_xact_lock(hashtext('pgw-mapping-listen-ports'))`.execute(trx);
        creating = api.h.call('POST', '/api/v1/mappings', { ...api.as(api.admin), body: { clientIp: '192.168.2.200', proxyId: proxy.body.id } });
        await sleep(2_500);
        // Another admin narrows the LAN: no mapping is outside it yet, so the change passes.
        narrowed = await api.h.call('PUT', '/api/v1/settings', { ...api.as(api.admin), body: { ...settings, lanCidr: '192.168.2.0/25' } });
      });
      assert.equal(narrowed!.status, 200, narrowed!.text);
      const created = await creating!;
      const stored = await api.h.db.selectFrom('mappings').select('id').where('clientIp', '=', '192.168.2.200').executeTakeFirst();
      assert.equal(stored, undefined, `a mapping outside the LAN 192.168.2.0/25 was stored (answered ${created.status})`);
      assert.equal(created.status, 400, created.text);
      assert.equal(created.body.error.field, 'clientIp');
      assert.match(created.body.error.message, /192\.168\.2\.200 is not inside the LAN 192\.168\.2\.0\/25/);
    } finally {
      await api.h.call('PUT', '/api/v1/settings', { ...api.as(api.admin), body: settings });
    }
  });
});
