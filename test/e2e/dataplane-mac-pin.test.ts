// Client identity (docs/SECURITY.md flow 19): a mapping may pin its client's MAC address. A second
// LAN host that takes the pinned client's IP (same address, its own MAC, announcing itself by ARP
// as a spoofer would) gets nothing: its packets are dropped before DNAT, no TCP reaches the
// forwarder and nothing of it crosses eth0, while the real client keeps exiting through its proxy.
// Positive control: without the pin the same host uses the client's mapping (the forwarder's peer
// check is by IP only). Real agent and forwarder, a macvlan host on the LAN segment (lab).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDataplane, type Dataplane, REPO } from './dataplane-harness.js';

const CLIENT = '192.168.2.10';
const CLIENT_PORT = 20010;
/** Locally administered unicast: the other host's own MAC. */
const INTRUDER_MAC = '02:5e:00:00:be:ef';

let dp: Dataplane;
let mappingId: number;
let proxyIp: string;
let clientsMac: string;

async function exitIp(ns: string): Promise<string | null> {
  const r = await dp.lab.httpGet({ ns, url: dp.lab.description.internet.echoUrl, sourceIp: CLIENT, timeoutMs: 3_000 });
  return r.ok && r.status === 200 ? (JSON.parse(r.body) as { ip: string }).ip : null;
}

/** The other host forgets the gateway's MAC, so its next packet starts with an ARP request that claims CLIENT. */
async function intruderAnnounces(): Promise<void> {
  await dp.lab.exec(dp.lab.ns.lanHost, ['ip', 'neigh', 'flush', 'dev', 'lanhost0']);
}

/** One TCP connect from the other host to the internet's echo port: connected, refused or timeout. */
async function intruderConnect(): Promise<string> {
  const { ip, tcpEchoPort } = dp.lab.description.internet;
  const script = `const s = require('node:net').connect({ host: '${ip}', port: ${tcpEchoPort}, localAddress: '${CLIENT}', timeout: 1500 });
s.once('connect', () => { process.stdout.write('connected'); process.exit(0); });
s.once('timeout', () => { process.stdout.write('timeout'); process.exit(0); });
s.once('error', (e) => { process.stdout.write(e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' ? 'refused' : 'error:' + e.code); process.exit(0); });`;
  return (await dp.lab.exec(dp.lab.ns.lanHost, ['node', '-e', script], { timeoutMs: 10_000 })).stdout;
}

/** Tracked connections from CLIENT to the echo port: the intruder's connect is the only one that uses it. */
async function trackedToEchoPort(): Promise<string> {
  const r = await dp.lab.exec(dp.gw, ['conntrack', '-L', '-p', 'tcp', '-s', CLIENT, '--dport', String(dp.lab.description.internet.tcpEchoPort)], { reject: false });
  return r.stdout.trim();
}

async function setPin(mac: string | null): Promise<void> {
  // No notice: the agent's resync (every second) finds the changed row by itself.
  await dp.tdb.db.updateTable('mappings').set({ macAddress: mac }).where('id', '=', mappingId).execute();
  const want = mac === null ? [] : [`${CLIENT} . ${mac}`];
  await dp.waitFor(`pin ${mac ?? 'removed'} in force`, async () => JSON.stringify(await pinnedPairs()) === JSON.stringify(want));
  // The gateway's neighbour entry follows the pin: permanent to the pinned MAC, or ARP-learnt again.
  await dp.waitFor(`neighbour entry ${mac ?? 'unpinned'}`, async () => (await permanentNeighbour()) === mac);
}

async function permanentNeighbour(): Promise<string | null> {
  const r = await dp.lab.exec(dp.gw, ['ip', '-j', 'neigh', 'show', CLIENT, 'dev', 'ens19', 'nud', 'permanent']);
  return (JSON.parse(r.stdout || '[]') as { lladdr: string }[])[0]?.lladdr ?? null;
}

async function pinnedPairs(): Promise<string[]> {
  const r = await dp.nft('list', 'set', 'inet', 'pgw', 'client_macs');
  return [...r.stdout.matchAll(/(\d+\.\d+\.\d+\.\d+ \. [0-9a-f:]{17})/g)].map((m) => m[1]!);
}

describe('dataplane MAC pinning (flow 19)', { timeout: 180_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', join(REPO, 'services/forwarder')], { cwd: REPO, stdio: 'inherit', timeout: 180_000 });
    dp = await createDataplane({ clients: 2, proxies: ['socks5'] });
    proxyIp = dp.proxyEndpoints[0]!.ip;
    await dp.loadGuard();
    const proxyId = await dp.addProxy(0, 'up');
    mappingId = await dp.addMapping(CLIENT, proxyId, CLIENT_PORT);
    // Without warm connections: this file proves the other host's silence by no packet at all on
    // eth0, and the pool opens and ages out connections to the proxy on its own (for recent demand,
    // not for any client: test/e2e/forwarder-warm-pool.test.ts).
    await dp.gateway.start('forwarder', { PGW_FORWARDER_WARM_POOL: 'false' });
    await dp.startAgent();
    await dp.waitFor('mapping effective', async () => (await dp.setElements('lan_mapped'))?.includes(CLIENT) === true);
    ({ clientsMac } = await dp.lab.addLanHost(CLIENT, INTRUDER_MAC));
    assert.notEqual(clientsMac, INTRUDER_MAC);
  });

  after(async () => {
    await dp?.destroy();
  });

  it('positive control: without a pin, a host that takes the client’s IP uses the client’s mapping', async () => {
    assert.equal(await exitIp(dp.lab.ns.lan), proxyIp, 'the real client exits through its proxy');
    await intruderAnnounces();
    assert.equal(await exitIp(dp.lab.ns.lanHost), proxyIp, 'the other host exits through the client’s proxy');
  });

  it('flow 19: with the client’s MAC pinned, the other host gets nothing: no TCP through the forwarder, 0 packets on eth0', async () => {
    await setPin(clientsMac);
    const capture = await dp.captureWan();
    await intruderAnnounces();
    const connect = await intruderConnect();
    const http = await exitIp(dp.lab.ns.lanHost);
    await new Promise((resolve) => setTimeout(resolve, 300)); // late retransmissions
    const wan = await capture.stop();
    assert.equal(connect, 'timeout', 'dropped, not answered');
    assert.equal(http, null);
    assert.equal(await trackedToEchoPort(), '', 'the dropped SYN left no tracked connection (it was never DNAT-ed)');
    assert.deepEqual(wan.all.filter((l) => / IP /.test(l)), [], 'no IPv4 packet crossed eth0');
  });

  it('flow 19: the real client still exits through its proxy while the other host claims its address', async () => {
    await intruderAnnounces();
    assert.equal(await intruderConnect(), 'timeout');
    const capture = await dp.captureWan();
    assert.equal(await exitIp(dp.lab.ns.lan), proxyIp);
    const wan = await capture.stop();
    assert.ok(wan.all.some((l) => l.includes(` > ${proxyIp}.`)), 'the relay to the proxy is seen on eth0');
    assert.deepEqual(wan.toOtherHosts, []);
  });

  it('flow 19: the pinned neighbour entry removed by another tool (ip neigh del; a link down and up flushes it too) is back within 2 s', async () => {
    assert.equal(await permanentNeighbour(), clientsMac);
    await dp.lab.exec(dp.gw, ['ip', 'neigh', 'del', CLIENT, 'dev', 'ens19']);
    const ms = await dp.waitFor('the permanent entry back', async () => (await permanentNeighbour()) === clientsMac, 2_000);
    console.log(`# permanent neighbour entry back ${ms} ms after its removal`);
  });

  it('removing the pin gives the address back to whoever holds it (the pin, not something else, stopped the other host)', async () => {
    await setPin(null);
    await intruderAnnounces();
    assert.equal(await exitIp(dp.lab.ns.lanHost), proxyIp);
  });
});
