// The agent restarted while Postgres is down, with the forwarder still running. At boot the agent
// puts its state file's policy back in force, but the forwarder still holds the mapped ports'
// sockets (kept across the agent's death), so none can be bound: every client is blocked
// port_refused until the forwarder hands the sockets back. Before, the run the handback asks for
// needed the desired state, which could not be read while the database stayed down: every client
// stayed blocked for the whole outage, its established connections reset. Real agent (its Postgres
// through a relay this test stops), forwarder, nftables, the lab.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PgRelay } from '../support/pg-relay.js';
import { createDataplane, type Dataplane } from './dataplane-harness.js';

const CLIENT = '192.168.2.10';
const PORT = 20010;

let dp: Dataplane;
let relay: PgRelay;

describe('the agent restarted while Postgres is down, the forwarder running', { timeout: 180_000 }, () => {
  before(async () => {
    dp = await createDataplane({ clients: 1, proxies: ['socks5'] });
    await dp.loadGuard();
    const proxy = await dp.addProxy(0, 'up');
    await dp.addMapping(CLIENT, proxy, PORT);
    relay = new PgRelay(dp.lab, PgRelay.socketDirOf(dp.tdb.urlFor('pgw_agent')));
    await relay.start();
    dp.agent = await dp.gateway.start('agent', { PGW_DATABASE_URL: relay.url(dp.tdb.urlFor('pgw_agent')) });
    await dp.waitFor('the client mapped', async () => ((await dp.setElements('lan_mapped')) ?? []).includes(CLIENT), 20_000);
    await dp.gateway.start('forwarder');
  });

  after(async () => {
    await relay?.stop();
    await dp?.destroy();
  });

  const blocked = async () => (await dp.setElements('lan_blocked')) ?? [];
  const exitIp = async () => {
    const r = await dp.lab.httpGet({ ns: dp.lab.ns.lan, url: dp.lab.description.internet.echoUrl, sourceIp: CLIENT, timeoutMs: 5_000 });
    return r.ok && r.status === 200 ? (JSON.parse(r.body) as { ip: string }).ip : null;
  };

  it('its clients are served again once the forwarder hands the sockets back, the database still down', async () => {
    await dp.waitFor('the client exits through its proxy', async () => (await exitIp()) === dp.lab.proxies[0]!.ip, 20_000);
    await relay.stop();
    await dp.killAgent();
    const restarted = Date.now();
    dp.agent = await dp.gateway.start('agent', { PGW_DATABASE_URL: relay.url(dp.tdb.urlFor('pgw_agent')) });
    const waited = await dp.waitFor('the client unblocked after the handback', async () => !(await blocked()).includes(CLIENT) && ((await dp.setElements('lan_mapped')) ?? []).includes(CLIENT), 20_000);
    console.log(`# agent restarted with Postgres down: the client unblocked ${Date.now() - restarted} ms after the start (waited ${waited} ms)`);
    assert.equal(await exitIp(), dp.lab.proxies[0]!.ip, 'the client exits through its proxy again');
  });

  it('an agent restarted without its state file (a lost state directory) takes the forwarder\'s sockets back at its first run: its client is served again', async () => {
    await relay.start();
    await dp.waitFor('the client exits through its proxy', async () => (await exitIp()) === dp.lab.proxies[0]!.ip, 20_000);
    await dp.killAgent();
    const stateDir = join(dp.gateway.dir, 'agent-state-lost');
    mkdirSync(stateDir, { recursive: true });
    // The forwarder hands its sockets back before this agent has read any desired state. Refused
    // then, they stayed bound by the forwarder, the agent could not bind the port, and the client
    // stayed blocked (port_refused) until the forwarder restarted.
    dp.agent = await dp.gateway.start('agent', { PGW_DATABASE_URL: relay.url(dp.tdb.urlFor('pgw_agent')), PGW_STATE_DIR: stateDir });
    await dp.waitFor('the client served again', async () => (await exitIp()) === dp.lab.proxies[0]!.ip, 20_000);
    assert.ok(!(await blocked()).includes(CLIENT));
    await relay.stop();
  });

  it("an HA peer set or changed meanwhile is the one VRRP is taken from, although the state file knows another or none", async () => {
    const vrrpRules = async () => (await dp.nft('list', 'chain', 'inet', 'pgw', 'input')).stdout.split('\n').filter((l) => l.includes('vrrp')).map((l) => l.trim());
    for (const peer of ['198.51.100.2', '198.51.100.3']) {
      await dp.killAgent();
      dp.agent = await dp.gateway.start('agent', { PGW_DATABASE_URL: relay.url(dp.tdb.urlFor('pgw_agent')), PGW_HA_PEER_IP: peer, PGW_HA_VRRP_IF: 'eth0' });
      await dp.waitFor(`VRRP taken from ${peer}`, async () => (await vrrpRules()).some((r) => r.includes(`ip saddr ${peer} `)), 20_000);
      assert.deepEqual(await vrrpRules(), [`meta l4proto vrrp iifname "eth0" ip saddr ${peer} ip ttl 255 accept`, 'meta l4proto vrrp drop']);
    }
  });
});
