// A settings row the domain schema refuses (only a writer past the api can store one: `lo` as the
// LAN interface, a port window below 1024) must not stop the health service. The agent goes on
// enforcing under the settings it accepted last, so a proxy that dies must still be found dead:
// before, loadSettings threw, so health could not start (systemd gave up after five restarts) and a
// running one failed every reconcile, every status frozen at 'up'. Now it probes under the
// settings read before, or at start under the row with each refused field at its default.
// Real Postgres (role pgw_health), a private Redis, a proxy port on loopback that nothing answers.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type HealthStack, type HealthStores, startHealthStack, startHealthStores } from './health-stack.js';

/** A loopback port nothing listens on: a proxy there is dead. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('health with a settings row the schema refuses', { timeout: 60_000 }, () => {
  let stores: HealthStores;
  let stack: HealthStack | undefined;
  const status = async (id: number) => (await stores.database.db.selectFrom('proxies').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;

  before(async () => {
    stores = await startHealthStores('health-settings-row');
  });
  after(async () => {
    await stack?.stop();
    await stores?.stop();
  });

  it('starts on such a row and finds a dead proxy dead', async () => {
    const db = stores.database.db;
    await db.updateTable('settings').set({ lanInterface: 'lo', failThreshold: 1 }).where('id', '=', 1).execute();
    const { id } = await db.insertInto('proxies').values({ name: 'dead', protocol: 'socks5', host: '127.0.0.1', port: await deadPort(), status: 'up' }).returning('id').executeTakeFirstOrThrow();
    stack = await startHealthStack(stores.database, stores.redis, { name: 'health-settings-row', secretKey: randomBytes(32), proxyAllowNetworks: ['127.0.0.0/8'], liveness: false });
    const result = await stack.probe(id, 10_000);
    assert.equal(result.ok, false);
    assert.equal(await status(id), 'down', 'fail threshold 1: the row\'s own value, not the default, where the schema accepts it');
  });

  it('keeps probing when the row goes bad while it runs (the settings read before)', async () => {
    const db = stores.database.db;
    await db.updateTable('settings').set({ lanInterface: 'ens19' }).where('id', '=', 1).execute();
    await stack!.health.reconcile();
    await db.updateTable('settings').set({ forwarderPortMin: 80 }).where('id', '=', 1).execute();
    await stack!.health.reconcile();
    const { id } = await db.insertInto('proxies').values({ name: 'dead-2', protocol: 'socks5', host: '127.0.0.1', port: await deadPort(), status: 'up' }).returning('id').executeTakeFirstOrThrow();
    await stack!.health.reconcile();
    assert.equal((await stack!.probe(id, 10_000)).ok, false);
    assert.equal(await status(id), 'down');
  });
});
