// The gateway holds at most MAX_MAPPINGS (4096) mappings: the agent's usage sample, which carries
// every client's counters and quota count, does not parse beyond that, and a sample that does not
// parse was dropped without a word (no history, no quota count kept across an agent restart).
// The api refuses the mapping past the limit (create and import) with 409 and stores nothing.
// Real Postgres, the real health service and a dante.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MAPPINGS } from '@pgw/domain';
import { useApiStack } from './api-stack.js';

/** The i-th client of 10.0.0.0/16, never a network or broadcast address of it. */
const clientIp = (i: number) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`;

describe(`api: at most ${MAX_MAPPINGS} mappings`, { timeout: 120_000 }, () => {
  const api = useApiStack();

  it(`the mapping past ${MAX_MAPPINGS} is refused (409) by create and by import, and nothing is stored`, async () => {
    const { h } = api;
    await h.db.updateTable('settings').set({ lanCidr: '10.0.0.0/16', forwarderPortMin: 20000, forwarderPortMax: 29999 }).where('id', '=', 1).execute();
    const created = await h.call('POST', '/api/v1/proxies', { ...api.as(api.admin), body: { name: 'dante', url: api.stack.dante.url } });
    assert.equal(created.status, 201, created.text);
    const proxyId = created.body.id as number;
    const rows = Array.from({ length: MAX_MAPPINGS - 1 }, (_, i) => ({ clientIp: clientIp(i), proxyId, listenPort: 20000 + i, enabled: true, description: '' }));
    await h.db.insertInto('mappings').values(rows).execute();
    const count = async () => Number((await h.db.selectFrom('mappings').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

    // The last one the gateway holds.
    const last = await h.call('POST', '/api/v1/mappings', { ...api.as(api.admin), body: { clientIp: clientIp(MAX_MAPPINGS - 1), proxyId } });
    assert.equal(last.status, 201, last.text);
    assert.equal(await count(), MAX_MAPPINGS);

    const over = await h.call('POST', '/api/v1/mappings', { ...api.as(api.admin), body: { clientIp: clientIp(MAX_MAPPINGS), proxyId } });
    assert.equal(over.status, 409, over.text);
    assert.match(over.body.error.message, new RegExp(`at most ${MAX_MAPPINGS} mappings`));
    const imported = await h.call('POST', '/api/v1/mappings/import', { ...api.as(api.admin), csv: `client_ip,proxy_name\n${clientIp(MAX_MAPPINGS)},dante\n` });
    assert.equal(imported.status, 409, imported.text);
    assert.match(imported.body.error.message, new RegExp(`at most ${MAX_MAPPINGS} mappings`));
    assert.equal(await count(), MAX_MAPPINGS, 'nothing stored past the limit');

    // A gateway already past the limit (rows from before it) still edits its mappings by import.
    await h.db.insertInto('mappings').values({ clientIp: clientIp(MAX_MAPPINGS), proxyId, listenPort: 20000 + MAX_MAPPINGS, enabled: true, description: '' }).execute();
    const updated = await h.call('POST', '/api/v1/mappings/import', { ...api.as(api.admin), csv: `client_ip,proxy_name,description\n${clientIp(0)},dante,moved desk\n` });
    assert.equal(updated.status, 200, updated.text);
    assert.deepEqual(updated.body, { created: 0, updated: 1, unchanged: 0 });
  });
});
