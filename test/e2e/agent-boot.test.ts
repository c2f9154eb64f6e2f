import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupStaleLabs, createLab, type Lab } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway } from '../support/gateway.js';
import { waitFor } from '../../lab/wait.js';

/** Issue 7: after a reboot the agent enforces its cached state at once, before Postgres or Redis answer. */
describe('agent boot with Postgres and Redis unreachable (flows 14, 17)', () => {
  let lab: Lab;
  let database: TestDatabase;
  let gateway: Gateway;

  const mappedClients = async () => {
    const listing = await lab.exec(lab.ns.gateway, ['nft', '-j', 'list', 'set', 'inet', 'pgw', 'lan_mapped'], { reject: false });
    if (listing.exitCode !== 0) return null;
    const set = (JSON.parse(listing.stdout).nftables as { set?: { elem?: string[] } }[]).find((item) => item.set)?.set;
    return set?.elem ?? [];
  };

  before(async () => {
    await cleanupStaleLabs();
    lab = await createLab({ clients: 2, proxies: ['socks5'] });
    database = await createTestDatabase({ prefix: 'pgw_boot' });
    gateway = new Gateway(lab, database);
  });
  after(async () => {
    await gateway?.destroy();
    await database?.drop();
    await lab?.destroy();
  });

  it('applies the state file without Postgres or Redis, as the first thing it does', async () => {
    const proxyId = await gateway.seedProxy(lab.proxies[0]!, { status: 'up' });
    await gateway.seedMapping(lab.clients[0]!, proxyId, 20000);
    await gateway.start('agent');
    await waitFor('the mapping applied', 10_000, async () => (await mappedClients())?.includes(lab.clients[0]!));
    // The state file is written beside the read-back, just after the apply: wait for it, as a reboot would find it.
    const stateFile = join(gateway.stateDir, 'policy.json');
    await waitFor('the state file naming the client', 10_000, async () => (await readFile(stateFile, 'utf8').catch(() => '')).includes(`"${lab.clients[0]}"`));
    assert.deepEqual(await mappedClients(), [lab.clients[0]], 'the normal run applied the mapping');

    // A reboot: the agent dies, the kernel forgets table inet pgw, and neither Postgres nor Redis answers yet.
    await gateway.kill('agent');
    await lab.exec(lab.ns.gateway, ['nft', 'delete', 'table', 'inet', 'pgw']);
    assert.equal(await mappedClients(), null, 'the table is gone before the restart');
    const started = Date.now();
    const agent = await gateway.start('agent', { PGW_DATABASE_URL: 'postgres://pgw_agent:x@/pgw?host=/nonexistent', PGW_REDIS_URL: '/nonexistent/redis.sock' });
    // gateway.start() resolves on healthz, which comes after the heavy modules: the rules are in force by then.
    assert.deepEqual(await mappedClients(), [lab.clients[0]], 'the cached mapping is enforced');
    console.log(`# state file enforced and agent answering ${Date.now() - started} ms after its start (Postgres and Redis unreachable)`);
    assert.ok(agent.isAlive(), 'the agent keeps running and retrying Postgres');
    const routeLocalnet = await lab.exec(lab.ns.gateway, ['sysctl', '-n', 'net.ipv4.conf.ens19.route_localnet']);
    assert.equal(routeLocalnet.stdout.trim(), '1', 'DNAT to 127.0.0.1 works: route_localnet is on');
  });
});
