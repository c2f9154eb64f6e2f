// A CSV import beside another admin's change of the same mapping (a bulk assign holding its rows
// while it probes the new proxy, an edit). The import plans its file again inside its transaction,
// but it read the rows without locking them: it waited on the other change's row lock only for its
// own UPDATE, and then wrote its whole planned row over the committed change (the client back on
// the proxy the other admin was moving it off, unprobed, with an audit row whose "before" hid it).
// Real Postgres, the real health service and a dante (the import's health gate); the other admin is
// a transaction of the test that holds the row.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiHarness } from './api-harness.js';
import { useApiStack } from './api-stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('api: a CSV import beside another change of the same mapping', { timeout: 60_000 }, () => {
  const api = useApiStack();

  it('an import whose row another admin changed while it waited does not write its stale row over the change', async () => {
    const created = await api.h.call('POST', '/api/v1/proxies', { ...api.as(api.admin), body: { name: 'old-proxy', url: api.stack.dante.url } });
    assert.equal(created.status, 201, created.text);
    const p = { id: created.body.id as number };
    const q = await api.h.db.insertInto('proxies').values({ name: 'new-proxy', protocol: 'socks5', host: '198.51.100.72', port: 1080, status: 'up' }).returning('id').executeTakeFirstOrThrow();
    const x = await api.h.db.insertInto('mappings').values({ clientIp: '192.168.2.77', proxyId: p.id, listenPort: 20777, enabled: true, description: 'desk' }).returning('id').executeTakeFirstOrThrow();
    // The importing admin's file: exported before the move, only the description changed.
    const csv = 'client_ip,proxy_name,listen_port,enabled,description\n192.168.2.77,old-proxy,20777,true,front desk\n';

    let importing: ReturnType<ApiHarness['call']> | undefined;
    await api.h.db.transaction().execute(async (trx) => {
      // The other admin moves the client to new-proxy and holds the row (its probe, say) while the import runs.
      await trx.updateTable('mappings').set({ proxyId: q.id }).where('id', '=', x.id).execute();
      importing = api.h.call('POST', '/api/v1/mappings/import', { ...api.as(api.admin), csv });
      // Long enough for the import's probe of old-proxy and the start of its transaction.
      await sleep(2_500);
    });
    const imported = await importing!;
    const row = await api.h.db.selectFrom('mappings').select(['proxyId', 'description']).where('id', '=', x.id).executeTakeFirstOrThrow();
    assert.equal(row.proxyId, q.id, `the move was undone by the import (answered ${imported.status}: ${imported.text})`);
    // Refused as a change made meanwhile that needs a probe the import did not run: export again.
    assert.equal(imported.status, 409, imported.text);
    assert.match(imported.body.error.message, /changed by another edit while the import waited/);
    assert.equal(row.description, 'desk', 'nothing of the file was written');
  });

  it('an import whose row another admin deleted while it waited does not bring the mapping back', async () => {
    const created = await api.h.call('POST', '/api/v1/proxies', { ...api.as(api.admin), body: { name: 'kept-proxy', url: api.stack.dante.url } });
    assert.equal(created.status, 201, created.text);
    const p = { id: created.body.id as number };
    const x = await api.h.db.insertInto('mappings').values({ clientIp: '192.168.2.78', proxyId: p.id, listenPort: 20778, enabled: true, description: 'desk' }).returning('id').executeTakeFirstOrThrow();
    // The importing admin's file: exported before the delete, only the description changed.
    const csv = 'client_ip,proxy_name,listen_port,enabled,description\n192.168.2.78,kept-proxy,20778,true,front desk\n';

    let importing: ReturnType<ApiHarness['call']> | undefined;
    await api.h.db.transaction().execute(async (trx) => {
      // The other admin cuts the client off (its delete committed while the import probes).
      await trx.deleteFrom('mappings').where('id', '=', x.id).execute();
      importing = api.h.call('POST', '/api/v1/mappings/import', { ...api.as(api.admin), csv });
      await sleep(2_500);
    });
    const imported = await importing!;
    const rows = await api.h.db.selectFrom('mappings').select(['id', 'enabled']).where('clientIp', '=', '192.168.2.78').execute();
    assert.deepEqual(rows, [], `the deleted mapping came back (answered ${imported.status}: ${imported.text})`);
    assert.equal(imported.status, 409, imported.text);
    assert.match(imported.body.error.message, /deleted by another edit while the import waited/);
  });
});
