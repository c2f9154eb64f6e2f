// Bulk actions under a concurrent edit (issue 17), against the real Postgres, a private Redis, the real
// health service and a real dante: the health gate of `POST /mappings/bulk` is decided on the rows as
// locked in its transaction, so a mapping another admin disabled while the bulk request was probing is
// not enabled without its proxy being probed.
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ADMIN, type ApiHarness, type Session } from './api-harness.js';
import { ApiStack } from './api-stack.js';

/** A TCP relay to dante that waits `delayMs` before connecting: a slow proxy, so a probe through it takes that long. */
function startSlowRelay(host: string, target: { host: string; port: number }, delayMs: number): Promise<Server> {
  const server = createServer((client) => {
    client.pause();
    const timer = setTimeout(() => {
      const upstream = connect(target, () => {
        client.pipe(upstream).pipe(client);
        client.resume();
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    }, delayMs);
    client.on('close', () => clearTimeout(timer));
  });
  return new Promise((resolve, reject) => server.once('error', reject).listen(1080, host, () => resolve(server)));
}

describe('bulk actions lock their rows before the health gate', { timeout: 120_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let admin: Session;
  let relay: Server;
  const as = (session: Session) => ({ auth: { bearer: session.token } });

  before(async () => {
    stack = await ApiStack.start();
    h = stack.harness;
    admin = await h.login(ADMIN);
    relay = await startSlowRelay(stack.dante.ip.replace(/\.\d+$/, '.13'), { host: stack.dante.ip, port: stack.dante.port }, 1_000);
  });
  after(async () => {
    relay?.close();
    await stack?.stop();
  });

  it('a mapping disabled while the bulk enable probes another proxy stays disabled unless its own proxy passes', async () => {
    const slow = await h.seedProxy('slow-but-up', 'up');
    await h.db.updateTable('proxies').set({ host: stack.dante.ip.replace(/\.\d+$/, '.13'), port: 1080 }).where('id', '=', slow).execute();
    const dead = await h.seedProxy('dead', 'up');
    await h.db.updateTable('proxies').set({ host: stack.deadEndpoint.host, port: stack.deadEndpoint.port }).where('id', '=', dead).execute();
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
});
