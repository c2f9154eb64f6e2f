// Mapping writes under a concurrent edit, against the real Postgres, a private Redis, the real health
// service and a real dante behind a slow relay (a probe through it takes a second). The health gate of
// `POST /mappings/bulk` (issue 17) and of a single edit is decided on the rows as locked in the write's
// transaction, so a mapping another admin disabled while the request was probing is not enabled
// without its proxy being probed; and a single edit writes only what it changes, so another admin's
// disable or "deny private destinations" made during its probe is not undone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, type ApiHarness, type Session } from './api-harness.js';
import { ApiStack } from './api-stack.js';
import { type SlowRelay, startSlowRelay } from '../support/slow-relay.js';

describe('mapping writes lock their rows before the health gate', { timeout: 120_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let admin: Session;
  let relay: SlowRelay;
  const as = (session: Session) => ({ auth: { bearer: session.token } });
  /** A proxy row, up, at host:port (the slow relay, dante itself, or the dead endpoint). */
  const seedProxyAt = async (name: string, host: string, port: number): Promise<number> => {
    const id = await h.seedProxy(name, 'up');
    await h.db.updateTable('proxies').set({ host, port }).where('id', '=', id).execute();
    return id;
  };
  const slowHost = () => stack.dante.ip.replace(/\.\d+$/, '.13');

  before(async () => {
    stack = await ApiStack.start();
    h = stack.harness;
    admin = await h.login(ADMIN);
    relay = await startSlowRelay({ host: slowHost(), port: 1080 }, { host: stack.dante.ip, port: stack.dante.port }, 1_000);
  });
  after(async () => {
    relay?.close();
    await stack?.stop();
  });

  it('a mapping disabled while the bulk enable probes another proxy stays disabled unless its own proxy passes', async () => {
    const slow = await seedProxyAt('slow-but-up', slowHost(), 1080);
    const dead = await seedProxyAt('dead', stack.deadEndpoint.host, stack.deadEndpoint.port);
    const a = await h.seedMapping(slow, '192.168.2.10', 20000, false);
    const b = await h.seedMapping(dead, '192.168.2.11', 20001, true);

    const started = Date.now();
    const bulk = h.call('POST', '/api/v1/mappings/bulk', { ...as(admin), body: { ids: [a, b], action: 'enable' } });
    // Another admin disables b while the bulk request waits for the slow proxy's probe (~1 s).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const disabled = await h.call('POST', `/api/v1/mappings/${b}/disable`, as(admin));
    const res = await bulk;
    const elapsed = Date.now() - started;
    assert.equal(disabled.status, 200, disabled.text);
    const rows = await h.db.selectFrom('mappings').select(['id', 'enabled']).where('id', 'in', [a, b]).orderBy('id').execute();
    const deadChecks = await h.db.selectFrom('proxyChecks').select('ok').where('proxyId', '=', dead).execute();
    console.log(`bulk ${res.status} after ${elapsed} ms; rows ${JSON.stringify(rows)}; probes of the dead proxy ${deadChecks.length}`);
    // Either serial order is fine: disable after the bulk enable (b disabled, a enabled), or before it
    // (the gate probes the dead proxy and refuses: nothing enabled). b enabled with its proxy never
    // probed is neither.
    const b1 = rows.find((r) => r.id === b)!;
    assert.ok(!b1.enabled || deadChecks.some((c) => c.ok), `mapping b is enabled although its proxy was never probed (bulk ${res.status})`);
    assert.equal(b1.enabled, false);
  });

  it('a single edit that probes keeps what another admin changed meanwhile: the disable and the private-destination deny stay', async () => {
    const slow = await seedProxyAt('slow-for-edit', slowHost(), 1080);
    const fast = await seedProxyAt('fast-for-edit', stack.dante.ip, stack.dante.port);
    const m = await h.seedMapping(fast, '192.168.2.20', 20010, true);

    // Admin A moves the mapping to the slow proxy: the gate probes it (~1 s).
    const move = h.call('PATCH', `/api/v1/mappings/${m}`, { ...as(admin), body: { proxyId: slow } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Admin B meanwhile: no probe needed, committed at once.
    const deny = await h.call('PATCH', `/api/v1/mappings/${m}`, { ...as(admin), body: { privateDestinations: 'deny' } });
    assert.equal(deny.status, 200, deny.text);
    const disabled = await h.call('POST', `/api/v1/mappings/${m}/disable`, as(admin));
    assert.equal(disabled.status, 200, disabled.text);
    const moved = await move;
    const row = await h.db.selectFrom('mappings').select(['proxyId', 'enabled', 'privateDestinations']).where('id', '=', m).executeTakeFirstOrThrow();
    console.log(`edit ${moved.status} after B's writes; row ${JSON.stringify(row)}`);
    assert.equal(moved.status, 200, moved.text);
    assert.deepEqual(row, { proxyId: slow, enabled: false, privateDestinations: 'deny' }, 'A\'s move applied to the row as B left it');
  });
});
