// The kill switch for idle clients (issue 11, point 4): the health service's one idle liveness
// connection per proxy notices a dead proxy without client traffic and without waiting for the
// 30 s layer-7 probe. Real agent, forwarder and health in a lab gateway, a real dante.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupStaleLabs, createLab, type Lab, type ProxyHandle } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway } from '../support/gateway.js';
import { NftWatch } from '../support/nft-watch.js';
import { waitFor } from '../../lab/wait.js';

/** Long enough that no periodic probe can be what finds the dead proxy within the bounds below. */
const HEALTH_INTERVAL_S = 3600;
const PROBE_TIMEOUT_MS = 2_000;
const LISTEN_PORT = 20_000;
const TRIALS = 5;
const BOUND_PROCESS_EXIT_MS = 1_000;
const BOUND_SILENT_HOST_MS = 5_000;

describe('liveness: a dead proxy blocks its idle clients without waiting for a probe', { timeout: 180_000 }, () => {
  let lab: Lab;
  let database: TestDatabase;
  let gateway: Gateway;
  let watch: NftWatch;
  let proxy: ProxyHandle;
  let proxyId: number;
  let clientIp: string;

  const status = async () => (await database.db.selectFrom('proxies').select('status').where('id', '=', proxyId).executeTakeFirstOrThrow()).status;
  const lastFailure = () =>
    database.db.selectFrom('proxyChecks').select(['trigger', 'error']).where('proxyId', '=', proxyId).where('ok', '=', false).orderBy('id', 'desc').executeTakeFirst();
  const clientWorks = async () => {
    await waitFor('the client exits through its proxy', 20_000, async () => {
      const res = await lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, timeoutMs: 1_000 });
      return res.ok && res.status === 200 && (JSON.parse(res.body) as { ip: string }).ip === proxy.ip;
    });
  };

  before(async () => {
    await cleanupStaleLabs();
    lab = await createLab({ clients: 1, proxies: ['socks5'] });
    proxy = lab.proxies[0]!;
    clientIp = lab.clients[0]!;
    database = await createTestDatabase();
    gateway = new Gateway(lab, database);
    await database.db
      .updateTable('settings')
      .set({ healthIntervalS: HEALTH_INTERVAL_S, probeTimeoutMs: PROBE_TIMEOUT_MS, checkUrl: lab.description.internet.echoUrl, failThreshold: 1, recoverThreshold: 1 })
      .where('id', '=', 1)
      .execute();
    // Off its periodic phase for the whole file: every failure on record is the liveness watch's.
    proxyId = await gateway.seedProxy(proxy, { quiet: { intervalS: HEALTH_INTERVAL_S, quietMs: 180_000 } });
    await gateway.seedMapping(clientIp, proxyId, LISTEN_PORT);
    await gateway.start('agent');
    await gateway.start('forwarder');
    await gateway.start('health');
    watch = new NftWatch(lab.ns.gateway);
    await clientWorks();
  });

  after(async () => {
    watch?.stop();
    await gateway?.destroy();
    await database?.drop();
    await lab?.destroy();
  });

  it(`a killed proxy process blocks its idle client within ${BOUND_PROCESS_EXIT_MS} ms (${TRIALS} trials), and its return unblocks it`, async () => {
    const measured: number[] = [];
    const written: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const blocked = watch.blocked(clientIp, 10_000);
      const killedAt = Date.now();
      await proxy.kill();
      try {
        const blockedAt = await blocked;
        assert.notEqual(blockedAt, null, `trial ${trial}: the client was not blocked within 10 s`);
        measured.push(blockedAt! - killedAt);
        const row = await database.db.selectFrom('proxies').select('statusChangedAt').where('id', '=', proxyId).executeTakeFirstOrThrow();
        written.push(row.statusChangedAt!.getTime() - killedAt);
        const failure = await lastFailure();
        assert.equal(failure?.trigger, 'liveness', `trial ${trial}: found by ${failure?.trigger}`);
        // The reconnect is refused, or reset when it reached the dying proxy's accept queue before its listener closed.
        assert.match(failure?.error ?? '', new RegExp(`^socks5://${proxy.ip.replace(/\./g, '\\.')}:${proxy.port} \\(liveness\\): .*(refused|reset)`));
      } finally {
        // Back (also after a failed trial, for the cases after this one): the liveness connection
        // succeeds again and asks for a probe (recoverThreshold 1).
        await proxy.start();
      }
      await waitFor('proxy up again', 10_000, async () => (await status()) === 'up');
      await clientWorks();
    }
    console.log(`# proxy process killed -> idle client blocked: ${measured.join(', ')} ms (status down written after ${written.join(', ')} ms)`);
    for (const ms of measured) assert.ok(ms <= BOUND_PROCESS_EXIT_MS, `blocked after ${ms} ms`);
  });

  it(`a proxy host that goes silent blocks its idle client within ${BOUND_SILENT_HOST_MS} ms`, async () => {
    // Every packet to or from the proxy's address is dropped inside the WAN namespace: no FIN, no RST, no ICMP.
    const silence = `table inet pgw_test_silence {
      chain in { type filter hook prerouting priority -300; ip daddr ${proxy.ip} drop; }
      chain out { type filter hook output priority -300; ip saddr ${proxy.ip} drop; }
    }`;
    const blocked = watch.blocked(clientIp, 15_000);
    const silencedAt = Date.now();
    await lab.exec(lab.ns.wan, ['nft', '-f', '-'], { input: silence });
    try {
      const blockedAt = await blocked;
      assert.notEqual(blockedAt, null, 'the client was not blocked within 15 s');
      const ms = blockedAt! - silencedAt;
      console.log(`# proxy host silent -> idle client blocked: ${ms} ms`);
      const failure = await lastFailure();
      assert.equal(failure?.trigger, 'liveness');
      assert.match(failure?.error ?? '', /keepalive/);
      assert.ok(ms <= BOUND_SILENT_HOST_MS, `blocked after ${ms} ms`);
    } finally {
      await lab.exec(lab.ns.wan, ['nft', 'delete table inet pgw_test_silence']);
    }
    await waitFor('proxy up again', 15_000, async () => (await status()) === 'up');
    await clientWorks();
  });
});
