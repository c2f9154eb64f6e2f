// A CSV import as applied after its dry run. One that swaps two mappings' listen ports (or moves
// ports along a chain): the dry run plans it as valid (each port is free once the file is applied),
// but the apply wrote the rows one at a time against a unique index checked per statement, and the
// import was refused 409 "listenPort is already in use" with no line named; the index is checked at
// commit now. And one applied with the preview's version after another admin changed a mapping it
// touches: refused 412 instead of writing over the change unseen. Real Postgres, the real health
// service and a dante.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiHarness } from './api-harness.js';
import { useApiStack } from './api-stack.js';

describe('api: a CSV import applied (ports swapped, after its preview)', { timeout: 90_000 }, () => {
  const api = useApiStack();

  it('applies what its dry run planned: the two mappings exchange their ports', async () => {
    const proxy = await api.h.call('POST', '/api/v1/proxies', { ...api.as(api.admin), body: { name: 'swap-proxy', url: api.stack.dante.url } });
    assert.equal(proxy.status, 201, proxy.text);
    await api.h.db.insertInto('mappings').values([
      { clientIp: '192.168.2.31', proxyId: proxy.body.id, listenPort: 20031, enabled: true, description: 'a' },
      { clientIp: '192.168.2.32', proxyId: proxy.body.id, listenPort: 20032, enabled: true, description: 'b' },
    ]).execute();
    const csv = 'client_ip,proxy_name,listen_port\n192.168.2.31,swap-proxy,20032\n192.168.2.32,swap-proxy,20031\n';
    const preview = await api.h.call('POST', '/api/v1/mappings/import/preview', { ...api.as(api.admin), csv });
    assert.equal(preview.status, 200, preview.text);
    const imported = await api.h.call('POST', '/api/v1/mappings/import', { ...api.as(api.admin), csv });
    assert.equal(imported.status, 200, imported.text);
    assert.deepEqual(imported.body, { created: 0, updated: 2, unchanged: 0 });
    const ports = await api.h.db.selectFrom('mappings').select(['clientIp', 'listenPort']).where('clientIp', 'in', ['192.168.2.31', '192.168.2.32']).orderBy('clientIp').execute();
    assert.deepEqual(ports.map((p) => [p.clientIp, p.listenPort]), [['192.168.2.31', 20032], ['192.168.2.32', 20031]]);
  });

  it("is refused 412, nothing written, when a mapping it changes was changed since the preview the operator read; applies when nothing was", async () => {
    const proxy = await api.h.call('POST', '/api/v1/proxies', { ...api.as(api.admin), body: { name: 'preview-proxy', url: api.stack.dante.url } });
    assert.equal(proxy.status, 201, proxy.text);
    const row = await api.h.db.insertInto('mappings').values({ clientIp: '192.168.2.41', proxyId: proxy.body.id, listenPort: 20041, enabled: true, description: 'desk' }).returning('id').executeTakeFirstOrThrow();
    const csv = 'client_ip,proxy_name,description\n192.168.2.41,preview-proxy,front desk\n';
    const preview = await api.h.call('POST', '/api/v1/mappings/import/preview', { ...api.as(api.admin), csv });
    assert.equal(preview.status, 200, preview.text);
    assert.match(preview.body.version, /^"[^"]+"$/);
    // Another admin disables the client while the operator reads the diff (which showed it enabled).
    const other = await api.h.call('PATCH', `/api/v1/mappings/${row.id}`, { ...api.as(api.admin), body: { enabled: false } });
    assert.equal(other.status, 200, other.text);
    const stale = await api.h.call('POST', '/api/v1/mappings/import', { ...api.as(api.admin), csv, headers: { 'if-match': preview.body.version } });
    assert.equal(stale.status, 412, stale.text);
    assert.match(stale.body.error.message, /preview it again/);
    assert.equal((await api.h.db.selectFrom('mappings').select('description').where('id', '=', row.id).executeTakeFirstOrThrow()).description, 'desk', 'nothing written');
    const again = await api.h.call('POST', '/api/v1/mappings/import/preview', { ...api.as(api.admin), csv });
    const applied = await api.h.call('POST', '/api/v1/mappings/import', { ...api.as(api.admin), csv, headers: { 'if-match': again.body.version } });
    assert.equal(applied.status, 200, applied.text);
    const stored = await api.h.db.selectFrom('mappings').select(['description', 'enabled']).where('id', '=', row.id).executeTakeFirstOrThrow();
    assert.deepEqual(stored, { description: 'front desk', enabled: false }, 'the file changed what it names, the disable stays');
  });
});
