// The health service in-process (Postgres role pgw_health, a private Redis) learning whether each
// proxy carries UDP (issue 15, migration 0020): real dante answers UDP ASSOCIATE (supported), the
// npm SOCKS5 server of the interop matrix refuses it (unsupported, and still up: UDP never decides
// the status), tinyproxy speaks HTTP CONNECT (unsupported, not asked). What was learned is forgotten
// on an endpoint change and learned again; it is asked again only after the relearn interval.
// Everything listens on loopback addresses of the machine's namespace.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { createDb } from '@pgw/db';
import { sql } from 'kysely';
import { startOddProxy } from '../../lab/odd-proxy-server.js';
import { spawnProcess } from '../../lab/process.js';
import { startDante, startTinyproxy } from '../../lab/proxies.js';
import { startRedis } from '../../lab/redis.js';
import type { LabProcess, ProxyHandle, RedisHandle } from '../../lab/types.js';
import { waitProcessPort } from '../../lab/wait.js';
import { UDP_RELEARN_MS } from '../../services/health/src/learning/udp-learning.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertQuietProxy } from '../support/quiet-proxy.js';
import { type IpEcho, startIpEcho } from '../support/ip-echo.js';
import { type HealthStack, startHealthStack } from './health-stack.js';

const SUBNET = `127.64.${randomInt(1, 250)}`;
const ECHO_IP = `${SUBNET}.100`;
const DANTE_IP = `${SUBNET}.11`;
const TINYPROXY_IP = `${SUBNET}.12`;
const NO_UDP_IP = `${SUBNET}.13`;
const UDP_SILENT_IP = `${SUBNET}.14`;
/** A long period, and proxies off their phase for all of the test: only the on-demand probes below run (plus the first ones). */
const QUIET = { intervalS: 300, quietMs: 90_000 };
const NPM_SERVER = fileURLToPath(new URL('../../lab/npm-socks5-server.ts', import.meta.url));

describe('health service learns whether each proxy carries UDP', { timeout: 90_000 }, () => {
  let database: TestDatabase;
  let dir: string;
  let redis: RedisHandle;
  let stack: HealthStack;
  let dante: ProxyHandle;
  let tinyproxy: ProxyHandle;
  let npmSocks: LabProcess;
  let echo: IpEcho;
  let udpSilent: Server;
  const key = randomBytes(32);

  const probe = async (id: number) => {
    const result = await stack.probe(id, 15_000);
    assert.equal(result.ok, true, `probe of proxy ${id}: ${result.error}`);
  };
  const rowOf = (id: number) =>
    database.db.selectFrom('proxies').select(['status', 'udpSupport', 'udpCheckedAt']).where('id', '=', id).executeTakeFirstOrThrow();
  const addProxy = async (name: string, protocol: 'socks5' | 'http', host: string, port: number): Promise<number> =>
    insertQuietProxy(database.db, { name, protocol, host, port }, QUIET);

  before(async () => {
    database = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'pgw-udp-support-test-'));
    redis = await startRedis({ dir });
    echo = await startIpEcho(ECHO_IP);
    await database.db.updateTable('settings').set({ healthIntervalS: QUIET.intervalS, probeTimeoutMs: 2000, checkUrl: echo.checkUrl, recoverThreshold: 1 }).where('id', '=', 1).execute();
    dante = await startDante({ ip: DANTE_IP, port: 1080 });
    tinyproxy = await startTinyproxy({ ip: TINYPROXY_IP, port: 8888 });
    npmSocks = await spawnProcess([process.execPath, '--import', import.meta.resolve('tsx'), NPM_SERVER, NO_UDP_IP, '1080'], { logFile: join(dir, 'npm-socks5.log'), name: 'npm-socks5' });
    await waitProcessPort(npmSocks, undefined, NO_UDP_IP, 1080, 10_000);
    udpSilent = await startOddProxy({ behaviour: 'socks5-udp-silent', ip: UDP_SILENT_IP, port: 1080 });
    stack = await startHealthStack(database, redis, { name: 'health-udp-support-test', secretKey: key, proxyAllowNetworks: [`${SUBNET}.0/24`] });
  });

  after(async () => {
    await stack?.stop();
    echo?.close();
    udpSilent?.close();
    await npmSocks?.stop();
    await tinyproxy?.stop();
    await dante?.stop();
    await redis?.stop();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('dante: supported; a SOCKS5 server refusing UDP ASSOCIATE: unsupported and up; tinyproxy (HTTP CONNECT): unsupported', async () => {
    const ids = {
      dante: await addProxy('dante', 'socks5', DANTE_IP, 1080),
      noUdp: await addProxy('npm-socks5-no-udp', 'socks5', NO_UDP_IP, 1080),
      tinyproxy: await addProxy('tinyproxy', 'http', TINYPROXY_IP, 8888),
    };
    assert.equal((await rowOf(ids.dante)).udpSupport, null, 'not known before the first probe');
    for (const id of Object.values(ids)) await probe(id);
    const rows = { dante: await rowOf(ids.dante), noUdp: await rowOf(ids.noUdp), tinyproxy: await rowOf(ids.tinyproxy) };
    assert.deepEqual(
      Object.fromEntries(Object.entries(rows).map(([name, row]) => [name, [row.status, row.udpSupport, row.udpCheckedAt !== null]])),
      { dante: ['up', 'supported', true], noUdp: ['up', 'unsupported', true], tinyproxy: ['up', 'unsupported', true] },
    );
  });

  it('asks again only after the relearn interval: a proxy that gains UDP is noticed then', async () => {
    const id = await addProxy('dante-relearn', 'socks5', DANTE_IP, 1080);
    await probe(id);
    // As if it had refused a minute ago: not asked again yet.
    const aMinuteAgo = new Date(Date.now() - 60_000);
    await database.db.updateTable('proxies').set({ udpSupport: 'unsupported', udpCheckedAt: aMinuteAgo }).where('id', '=', id).execute();
    await probe(id);
    assert.deepEqual(await rowOf(id), { status: 'up', udpSupport: 'unsupported', udpCheckedAt: aMinuteAgo });
    // The interval has passed: asked again, it answers now.
    await database.db.updateTable('proxies').set({ udpCheckedAt: new Date(Date.now() - UDP_RELEARN_MS - 1000) }).where('id', '=', id).execute();
    const before = Date.now();
    await probe(id);
    const row = await rowOf(id);
    assert.equal(row.udpSupport, 'supported');
    assert.ok(row.udpCheckedAt!.getTime() >= before - 1000, 'the time of the new check is stored');
  });

  it('re-learns after an endpoint change: Postgres forgets what was learned (as the api writes it), the next probe asks the new endpoint', async () => {
    const id = await addProxy('moving', 'socks5', DANTE_IP, 1080);
    await probe(id);
    assert.equal((await rowOf(id)).udpSupport, 'supported');
    const apiDb = createDb(database.urlFor('pgw_api'), { applicationName: 'pgw-udp-support-test-api' });
    try {
      await apiDb.updateTable('proxies').set({ name: 'moving (renamed)', updatedAt: new Date() }).where('id', '=', id).execute();
      assert.equal((await rowOf(id)).udpSupport, 'supported', 'a rename keeps what was learned');
      await apiDb.updateTable('proxies').set({ host: NO_UDP_IP, updatedAt: new Date() }).where('id', '=', id).execute();
      assert.deepEqual([(await rowOf(id)).udpSupport, (await rowOf(id)).udpCheckedAt], [null, null], 'a new endpoint is not known');
      await assert.rejects(sql`UPDATE proxies SET udp_support = 'supported' WHERE id = ${id}`.execute(apiDb), /permission denied/, 'only the health service writes it');
    } finally {
      await apiDb.destroy();
    }
    await probe(id);
    assert.equal((await rowOf(id)).udpSupport, 'unsupported');
  });

  it('records a failed probe at once, not after the UDP check beside it (a proxy silent to UDP ASSOCIATE)', async () => {
    const id = await addProxy('udp-silent', 'socks5', UDP_SILENT_IP, 1080);
    await probe(id);
    assert.deepEqual([(await rowOf(id)).status, (await rowOf(id)).udpSupport], ['up', null], 'the check could not tell: no answer');
    // The proxy stops proxying (its CONNECTs are refused at once) while a UDP check is due again.
    await database.db.updateTable('settings').set({ checkUrl: `http://${ECHO_IP}:9/ip` }).where('id', '=', 1).execute();
    await database.db.updateTable('proxies').set({ udpCheckedAt: null }).where('id', '=', id).execute();
    await stack.health.reconcile();
    try {
      const started = performance.now();
      const result = await stack.probe(id, 15_000);
      const tookMs = performance.now() - started;
      assert.equal(result.ok, false);
      assert.match(result.error ?? '', /refused|unreachable|failure/i);
      // The probe timeout is 2000 ms: the UDP ASSOCIATE waits all of it. Before, so did the result.
      assert.ok(tookMs < 1500, `the failure was recorded after ${Math.round(tookMs)} ms`);
    } finally {
      await database.db.updateTable('settings').set({ checkUrl: echo.checkUrl }).where('id', '=', 1).execute();
      await stack.health.reconcile();
    }
  });
});
