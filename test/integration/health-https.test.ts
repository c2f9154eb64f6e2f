// An https check URL: a local https IP echo on loopback with a self-signed certificate made by
// openssl in a temp dir, probed through a real dante. Certificates are verified: without
// PGW_HEALTH_CA_FILE the probe fails with a certificate error naming the option; with the
// certificate as CA (loaded through the health config) it succeeds; a trusted certificate for
// another address fails even then. Also the option's validation.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { EventBus, PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { Queue, QueueEvents } from 'bullmq';
import { Registry } from 'prom-client';
import { loadHealthConfig } from '../../services/health/src/config.js';
import { type HealthService, startHealthService } from '../../services/health/src/health-service.js';
import { startOddProxy } from '../../lab/odd-proxy-server.js';
import { startDante } from '../../lab/proxies.js';
import { startRedis } from '../../lab/redis.js';
import type { ProxyHandle, RedisHandle } from '../../lab/types.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertQuietProxy } from '../support/quiet-proxy.js';

const SUBNET = `127.64.${randomInt(1, 250)}`;
const ECHO_IP = `${SUBNET}.100`;
/** A long period, and proxies off their phase for all of the test: only the on-demand probes of the test run. */
const QUIET = { intervalS: 3600, quietMs: 300_000 };

/** A self-signed certificate (its own CA) for `ip`, written as <name>.crt / <name>.key. */
function selfSigned(dir: string, name: string, ip: string): { cert: string; key: string; certFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${ip}`,
      '-addext', `subjectAltName=IP:${ip}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile };
}

/** An https IP echo; `delayMs`: its answer waits that long after the request (the TLS handshake does not). */
function httpsEcho(cert: { cert: string; key: string }, delayMs = 0): Promise<{ server: Server; url: string }> {
  const server = createServer(cert, (req, res) => {
    if (req.url !== '/ip') return void res.writeHead(404).end();
    const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ip: req.socket.remoteAddress }));
    if (delayMs === 0) answer();
    else setTimeout(answer, delayMs);
  });
  return new Promise((resolve, reject) =>
    server.once('error', reject).listen(0, ECHO_IP, () => resolve({ server, url: `https://${ECHO_IP}:${(server.address() as AddressInfo).port}/ip` })),
  );
}

describe('health probe of an https check URL', () => {
  let dir: string;
  let database: TestDatabase;
  let healthDb: Db;
  let redis: RedisHandle;
  let bus: EventBus;
  let proxy: ProxyHandle;
  let proxyId: number;
  let health: HealthService | undefined;
  let queue: Queue<ProbeJobData, ProbeResult>;
  let queueEvents: QueueEvents;
  const servers: { close(): void }[] = [];
  const logger = createLogger('health-https-test', 'warn');
  const secretKey = randomBytes(32);
  let goodUrl: string;
  let wrongAddressUrl: string;
  let slowUrl: string;
  let caFile: string;

  const baseEnv = () => ({
    PGW_DATABASE_URL: database.urlFor('pgw_health'),
    PGW_REDIS_URL: redis.url('health'),
    PGW_SECRET_KEY: secretKey.toString('hex'),
  });
  const startHealth = async (extraCa: readonly string[]) => {
    health = await startHealthService({ db: healthDb, bus, redisUrl: redis.url('health'), logger, registry: new Registry(), secretKey, concurrency: 2, extraCa, reconcileIntervalMs: 60_000, proxyAllowNetworks: [`${SUBNET}.0/24`] });
  };
  const stopHealth = async () => {
    await health?.stop();
    health = undefined;
  };
  const setCheckUrl = async (checkUrl: string) => {
    await database.db.updateTable('settings').set({ checkUrl }).where('id', '=', 1).execute();
    await health?.reconcile();
  };
  const onDemand = async (): Promise<ProbeResult> => {
    const job = await queue.add('probe', { proxyId, trigger: 'on_demand' }, { removeOnComplete: true, removeOnFail: true });
    return job.waitUntilFinished(queueEvents, 10_000);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgw-health-https-'));
    const good = selfSigned(dir, 'echo', ECHO_IP);
    const elsewhere = selfSigned(dir, 'elsewhere', `${SUBNET}.200`);
    // Both trusted, so the wrong-address case fails on the address check, not on the chain.
    caFile = join(dir, 'trusted.pem');
    writeFileSync(caFile, `${good.cert}${elsewhere.cert}`);
    const goodEcho = await httpsEcho(good);
    const wrongEcho = await httpsEcho(elsewhere);
    // Slower than the pipelining grace (3000 ms / 4): only the answer, not the TLS handshake.
    const slowEcho = await httpsEcho(good, 1000);
    servers.push(goodEcho.server, wrongEcho.server, slowEcho.server);
    slowUrl = slowEcho.url;
    goodUrl = goodEcho.url;
    wrongAddressUrl = wrongEcho.url;

    database = await createTestDatabase();
    redis = await startRedis({ dir });
    proxy = await startDante({ ip: `${SUBNET}.11`, port: 1080, dir });
    await database.db.updateTable('settings').set({ healthIntervalS: QUIET.intervalS, probeTimeoutMs: 3000, checkUrl: goodUrl, recoverThreshold: 1 }).where('id', '=', 1).execute();
    proxyId = await insertQuietProxy(database.db, { name: 'dante', protocol: 'socks5', host: proxy.ip, port: proxy.port, username: null, passwordEnc: null }, QUIET);
    bus = new EventBus({ redisUrl: redis.url('health'), logger });
    healthDb = createDb(database.urlFor('pgw_health'), { applicationName: 'pgw-health-https-test' });
    queue = new Queue(PROBE_QUEUE, { connection: redis.connection('admin') });
    queueEvents = new QueueEvents(PROBE_QUEUE, { connection: redis.connection('admin') });
    await queueEvents.waitUntilReady();
  });

  after(async () => {
    await stopHealth();
    await queueEvents?.close();
    await queue?.close();
    await bus?.close();
    await healthDb?.destroy();
    for (const server of servers) server.close();
    await proxy?.stop();
    await redis?.stop();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects the self-signed certificate without PGW_HEALTH_CA_FILE, with an error naming the option', async () => {
    const extraCa = loadHealthConfig(baseEnv()).PGW_HEALTH_CA_FILE?.certificates ?? [];
    assert.deepEqual(extraCa, [], 'no CA file configured');
    await startHealth(extraCa);
    try {
      const result = await onDemand();
      assert.equal(result.ok, false);
      assert.match(result.error ?? '', /check URL certificate not trusted: self[- ]signed certificate.*PGW_HEALTH_CA_FILE/);
      const row = await database.db.selectFrom('proxies').select(['status', 'lastError']).where('id', '=', proxyId).executeTakeFirstOrThrow();
      assert.equal(row.status, 'down', 'fail closed: an untrusted check URL does not make the proxy up');
      assert.equal(row.lastError, result.error);
    } finally {
      await stopHealth();
    }
  });

  it('succeeds through the proxy once the certificate is trusted via PGW_HEALTH_CA_FILE, and still checks the address', async () => {
    const config = loadHealthConfig({ ...baseEnv(), PGW_HEALTH_CA_FILE: caFile });
    assert.equal(config.PGW_HEALTH_CA_FILE?.certificates.length, 2);
    await startHealth(config.PGW_HEALTH_CA_FILE!.certificates);
    try {
      const result = await onDemand();
      assert.equal(result.error, null);
      assert.equal(result.ok, true);
      assert.equal(result.exitIp, proxy.ip, 'the echo saw the proxy, so the https request went through it');
      assert.ok(result.latencyMs !== null && result.latencyMs > 0);
      const row = await database.db.selectFrom('proxies').select(['status', 'handshakeLearned']).where('id', '=', proxyId).executeTakeFirstOrThrow();
      assert.equal(row.status, 'up');
      // Learned over TLS: the ClientHello went with the CONNECT as early data and was answered.
      assert.equal(row.handshakeLearned, 'early-data');

      // A trusted certificate issued for another address is still refused (served on the echo's address).
      await setCheckUrl(wrongAddressUrl);
      const mismatch = await onDemand();
      assert.equal(mismatch.ok, false);
      assert.match(mismatch.error ?? '', new RegExp(`check URL certificate not trusted: .*IP: ${ECHO_IP.replace(/\./g, '\\.')} is not in the cert's list`));
    } finally {
      await setCheckUrl(goodUrl);
      await stopHealth();
    }
  });

  it('learns pipelined for a proxy that drops early data, also when the answer is slow but the TLS handshake is not', async () => {
    // The early-data try stays silent (the ClientHello was dropped); the try without early data is
    // answered at once by the ServerHello, only its HTTP answer is slow. The silence proves the drop:
    // the two are judged by their first byte (before: the whole answer, so early-data was kept and
    // every cold connection through this proxy would have hung).
    const dropping = await startOddProxy({ behaviour: 'socks5-drops-early-data', ip: `${SUBNET}.12`, port: 1080 });
    servers.push(dropping);
    const id = await insertQuietProxy(database.db, { name: 'drops-early-data', protocol: 'socks5', host: `${SUBNET}.12`, port: 1080, username: null, passwordEnc: null, handshakeLearned: 'early-data' }, QUIET);
    await setCheckUrl(slowUrl);
    const config = loadHealthConfig({ ...baseEnv(), PGW_HEALTH_CA_FILE: caFile });
    await startHealth(config.PGW_HEALTH_CA_FILE!.certificates);
    try {
      const job = await queue.add('probe', { proxyId: id, trigger: 'on_demand' }, { removeOnComplete: true, removeOnFail: true });
      const result = await job.waitUntilFinished(queueEvents, 10_000);
      assert.equal(result.error, null);
      assert.equal(result.exitIp, `${SUBNET}.12`);
      const row = await database.db.selectFrom('proxies').select(['status', 'handshakeLearned']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { status: 'up', handshakeLearned: 'pipelined' });
    } finally {
      await stopHealth();
      await database.db.deleteFrom('proxies').where('id', '=', id).execute();
      await setCheckUrl(goodUrl);
    }
  });

  it('refuses a PGW_HEALTH_CA_FILE that is relative, missing or holds no certificate, naming the variable', () => {
    const notPem = join(dir, 'not-a-cert.pem');
    writeFileSync(notPem, readFileSync(join(dir, 'echo.key')));
    assert.throws(() => loadHealthConfig({ ...baseEnv(), PGW_HEALTH_CA_FILE: 'echo.crt' }), /^ConfigError: PGW_HEALTH_CA_FILE: must be an absolute path/);
    assert.throws(() => loadHealthConfig({ ...baseEnv(), PGW_HEALTH_CA_FILE: join(dir, 'missing.crt') }), /PGW_HEALTH_CA_FILE: cannot read .*missing\.crt: ENOENT/);
    assert.throws(() => loadHealthConfig({ ...baseEnv(), PGW_HEALTH_CA_FILE: notPem }), /PGW_HEALTH_CA_FILE: .*not-a-cert\.pem contains no PEM certificate/);
    assert.throws(() => loadHealthConfig({ ...baseEnv(), PGW_HEALTH_CA_FILE: notPem }), (error: Error) => !error.message.includes('PRIVATE KEY'));
  });
});
