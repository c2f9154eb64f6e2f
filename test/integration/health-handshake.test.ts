// The health service in-process (Postgres role pgw_health, a private Redis) learning each SOCKS5
// proxy's handshake (issue 12 point 2): real dante accepts the pipelined greeting+auth+CONNECT;
// a server that reads each message with one read and drops what was pipelined after it must be
// reported up (learned: sequential), never down because pipelining failed. Everything listens on
// loopback addresses of the machine's namespace; each proxy leaves from its own address.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import type { Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encryptSecret } from '@pgw/crypto';
import { createDb } from '@pgw/db';
import type { ProbeResult } from '@pgw/events';
import { type OddBehaviour, SLOW_TARGET_MS, startOddProxy } from '../../lab/odd-proxy-server.js';
import { startDante } from '../../lab/proxies.js';
import type { ProxyHandle, RedisHandle } from '../../lab/types.js';
import { waitFor } from '../../lab/wait.js';
import type { TestDatabase } from '../support/database.js';
import { insertQuietProxy } from '../support/quiet-proxy.js';
import { type IpEcho, startIpEcho } from '../support/ip-echo.js';
import { type HealthStack, type HealthStores, startHealthStack, startHealthStores } from './health-stack.js';

const SUBNET = `127.63.${randomInt(1, 250)}`;
const ECHO_IP = `${SUBNET}.100`;
const AUTH = { username: 'pgwhandshake', password: 'handshake-test-pass' };
/** A long period, and proxies off their phase for all of the test: only the on-demand probes below run (plus the first one of each). */
const QUIET = { intervalS: 300, quietMs: 90_000 };

describe('health service learns each SOCKS5 proxy\'s handshake', { timeout: 90_000 }, () => {
  let database: TestDatabase;
  let stores: HealthStores | undefined;
  let redis: RedisHandle;
  let stack: HealthStack;
  let dante: ProxyHandle;
  const key = randomBytes(32);
  const servers: Server[] = [];
  let echo: IpEcho;

  const probe = (proxyId: number): Promise<ProbeResult> => stack.probe(proxyId, 15_000);
  const statusOf = (id: number) =>
    database.db.selectFrom('proxies').select(['status', 'exitIp', 'lastError']).where('id', '=', id).executeTakeFirstOrThrow();
  const learnedOf = async (id: number) =>
    (await database.db.selectFrom('proxies').select('handshakeLearned').where('id', '=', id).executeTakeFirstOrThrow()).handshakeLearned;

  async function addProxy(name: string, host: string, port: number, auth?: typeof AUTH): Promise<number> {
    return insertQuietProxy(database.db, { name, protocol: 'socks5', host, port, username: auth?.username ?? null, passwordEnc: auth ? encryptSecret(auth.password, key) : null }, QUIET);
  }

  async function odd(behaviour: OddBehaviour, host: string, auth?: typeof AUTH): Promise<number> {
    servers.push(await startOddProxy({ behaviour, ip: host, port: 1080, ...(auth ? { auth } : {}) }));
    return addProxy(`${behaviour}-${host}`, host, 1080, auth);
  }

  before(async () => {
    stores = await startHealthStores('handshake-test');
    ({ database, redis } = stores);
    echo = await startIpEcho(ECHO_IP);
    await database.db.updateTable('settings').set({ healthIntervalS: QUIET.intervalS, probeTimeoutMs: 2000, checkUrl: echo.checkUrl, recoverThreshold: 1 }).where('id', '=', 1).execute();
    dante = await startDante({ ip: `${SUBNET}.11`, port: 1080 });
    stack = await startHealthStack(database, redis, { name: 'health-handshake-test', secretKey: key, proxyAllowNetworks: [`${SUBNET}.0/24`] });
  });

  after(async () => {
    await stack?.stop();
    for (const server of servers) server.close();
    echo?.close();
    await dante?.stop();
    await stores?.stop();
  });

  it('reports a server that drops pipelined bytes up, through the sequential handshake, and remembers it', async () => {
    for (const auth of [undefined, AUTH]) {
      const host = auth ? `${SUBNET}.22` : `${SUBNET}.21`;
      const id = await odd('socks5-one-read', host, auth);
      const result = await probe(id);
      assert.equal(result.ok, true, `one-read server${auth ? ' with auth' : ''}: ${result.error}`);
      assert.equal(result.exitIp, host);
      assert.equal((await statusOf(id)).status, 'up');
      assert.equal(await learnedOf(id), 'sequential');
      // Known now: the next probe goes straight to the sequential handshake.
      const again = await probe(id);
      assert.equal(again.ok, true, String(again.error));
      assert.equal(await learnedOf(id), 'sequential');
    }
  });

  it('learns early-data for dante and for servers that split replies or answer with a domain or IPv6 BND.ADDR', async () => {
    const ids: [string, number][] = [
      ['dante', await addProxy('dante', dante.ip, dante.port)],
      ['split', await odd('socks5-split', `${SUBNET}.31`)],
      ['split with auth', await odd('socks5-split', `${SUBNET}.32`, AUTH)],
      ['domain BND.ADDR', await odd('socks5-bnd-domain', `${SUBNET}.33`)],
      ['IPv6 BND.ADDR', await odd('socks5-bnd-ipv6', `${SUBNET}.34`)],
    ];
    for (const [what, id] of ids) {
      const result = await probe(id);
      assert.equal(result.ok, true, `${what}: ${result.error}`);
      assert.equal(await learnedOf(id), 'early-data', what);
    }
  });

  it('learns pipelined for servers that drop, or refuse, bytes sent before their CONNECT reply: up, and remembered', async () => {
    for (const [behaviour, auth, host] of [
      ['socks5-drops-early-data', undefined, `${SUBNET}.71`],
      ['socks5-drops-early-data', AUTH, `${SUBNET}.72`],
      ['socks5-refuses-early-data', AUTH, `${SUBNET}.74`],
    ] as const) {
      const id = await odd(behaviour, host, auth);
      const result = await probe(id);
      assert.equal(result.ok, true, `${behaviour}${auth ? ' with auth' : ''}: ${result.error}`);
      assert.equal(result.exitIp, host);
      assert.equal((await statusOf(id)).status, 'up');
      assert.equal(await learnedOf(id), 'pipelined');
      // Known now: the next probe does not try early data again, and stays up.
      const again = await probe(id);
      assert.equal(again.ok, true, String(again.error));
      assert.ok((again.latencyMs ?? Infinity) < 500, `no grace waited again: ${again.latencyMs} ms`);
      assert.equal(await learnedOf(id), 'pipelined');
    }
  });

  it('uses forced early-data as set: dante up, the dropping server down with a hint to the setting', async () => {
    const daneId = await addProxy('dante-early', dante.ip, dante.port);
    const dropping = await odd('socks5-drops-early-data', `${SUBNET}.73`);
    for (const id of [daneId, dropping]) await database.db.updateTable('proxies').set({ handshakeMode: 'early-data' }).where('id', '=', id).execute();
    const up = await probe(daneId);
    assert.equal(up.ok, true, String(up.error));
    assert.equal(await learnedOf(daneId), null);
    const down = await probe(dropping);
    assert.equal(down.ok, false);
    assert.match(down.error ?? '', /no complete answer within 2000 ms .*early-data.*set the handshake to auto or pipelined/);
  });

  it('reports a server that closes after method selection down, naming the step, and learns nothing', async () => {
    const id = await odd('socks5-close-after-method', `${SUBNET}.41`);
    const result = await probe(id);
    assert.equal(result.ok, false);
    assert.match(result.error ?? '', /socks5:\/\/127\.63\.\d+\.41:1080 -> .*SOCKS5 reply: proxy closed the connection after the method selection/);
    assert.equal((await statusOf(id)).status, 'down');
    assert.equal(await learnedOf(id), null);
  });

  it('uses a forced mode as set: pipelined on the one-read server fails naming pipelining, sequential learns nothing', async () => {
    const id = await odd('socks5-one-read', `${SUBNET}.51`);
    await database.db.updateTable('proxies').set({ handshakeMode: 'pipelined' }).where('id', '=', id).execute();
    const forced = await probe(id);
    assert.equal(forced.ok, false);
    // No grace when forced (nothing to fall back to): the probe's timeout ends it, naming the step and the setting.
    assert.match(forced.error ?? '', /within 2000 ms \(waiting for the proxy's CONNECT reply\); handshake pipelined: a proxy that drops what is pipelined after its greeting never answers \(set the handshake to auto or sequential\)/);
    await database.db.updateTable('proxies').set({ handshakeMode: 'sequential' }).where('id', '=', id).execute();
    const sequential = await probe(id);
    assert.equal(sequential.ok, true, String(sequential.error));
    assert.equal(await learnedOf(id), null);
  });

  it('forced pipelined or early-data on a proxy slow to reach the target (its CONNECT reply after the pipelining grace): up, not down for pipelining', async () => {
    // The grace (a quarter of the timeout: 500 ms here) tells a proxy that dropped the pipelined
    // CONNECT from one that answers it, so that mode auto can fall back in time. Forced, there is no
    // fall-back: the grace only made a working proxy whose target is slow down, its clients blocked.
    const id = await odd('socks5-slow-target', `${SUBNET}.52`);
    for (const mode of ['pipelined', 'early-data'] as const) {
      await database.db.updateTable('proxies').set({ handshakeMode: mode }).where('id', '=', id).execute();
      const forced = await probe(id);
      assert.equal(forced.ok, true, `${mode}: ${forced.error}`);
      assert.ok((forced.latencyMs ?? 0) >= SLOW_TARGET_MS, `${mode}: the probe waited for the slow reply: ${forced.latencyMs} ms`);
      assert.equal((await statusOf(id)).status, 'up', mode);
    }
  });

  it('re-learns after an endpoint change (Postgres resets what was learned)', async () => {
    const id = await addProxy('dante-moved', dante.ip, dante.port);
    assert.equal((await probe(id)).ok, true);
    assert.equal(await learnedOf(id), 'early-data');
    const oneRead = `${SUBNET}.61`;
    servers.push(await startOddProxy({ behaviour: 'socks5-one-read', ip: oneRead, port: 1080 }));
    // As the api writes it (role pgw_api): the trigger of migration 0008 forgets the learned mode.
    const apiDb = createDb(database.urlFor('pgw_api'), { applicationName: 'pgw-handshake-test-api' });
    try {
      await apiDb.updateTable('proxies').set({ host: oneRead, updatedAt: new Date() }).where('id', '=', id).execute();
    } finally {
      await apiDb.destroy();
    }
    assert.equal(await learnedOf(id), null);
    const result = await probe(id);
    assert.equal(result.ok, true, String(result.error));
    assert.equal(result.exitIp, oneRead);
    assert.equal(await learnedOf(id), 'sequential');
  });

  it('a changed handshake mode is probed before it is used: the status is unknown until a probe in the new mode, which runs at once', async () => {
    // Up in auto (learned pipelined: it drops early data); the operator forces early-data. The
    // forwarder dials in the new mode at once and the proxy drops its clients' first bytes, while
    // the status said up until the next period (up to an hour), and a probe in flight under the old
    // mode counted for the new one.
    const id = await odd('socks5-drops-early-data', `${SUBNET}.75`);
    assert.equal((await probe(id)).ok, true);
    assert.equal((await statusOf(id)).status, 'up');
    const apiDb = createDb(database.urlFor('pgw_api'), { applicationName: 'pgw-handshake-test-api' });
    try {
      // To sequential (or auto, sequential until learned): what every server that answered a probe
      // takes; the status stays, and with it the clients' live connections.
      await apiDb.updateTable('proxies').set({ handshakeMode: 'sequential', updatedAt: new Date() }).where('id', '=', id).execute();
      assert.equal((await statusOf(id)).status, 'up', 'a change to sequential keeps the status');
      await apiDb.updateTable('proxies').set({ handshakeMode: 'early-data', updatedAt: new Date() }).where('id', '=', id).execute();
    } finally {
      await apiDb.destroy();
    }
    assert.equal((await statusOf(id)).status, 'unknown', 'no longer up once forced to early-data');
    await stack.bus.publish({ type: 'proxy.changed', proxyId: id, action: 'updated' });
    let seen = '';
    await waitFor('a probe in the new mode', 10_000, async () => (seen = (await statusOf(id)).status) === 'down', { detail: () => `status ${seen}` });
    assert.match((await statusOf(id)).lastError ?? '', /early-data/);
  });
});
