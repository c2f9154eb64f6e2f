// The liveness watch's loss of a proxy (Prober.recordLoss: the idle connection's reconnect refused,
// or its keepalive unanswered) against real Postgres as pgw_health and a private Redis: the kill
// switch for clients without traffic (docs/ARCHITECTURE.md, services/health). A loss takes an up
// proxy down at once, whatever fail_threshold says (that counts layer-7 probes, which can be
// flaky; a proxy whose TCP endpoint is gone is not), and a loss during a recovery resets it, so a
// probe that dialed before the loss cannot complete the recovery after it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db } from '@pgw/db';
import { DEFAULT_SETTINGS } from '@pgw/domain';
import { EventBus } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { gatewayAddresses } from '@pgw/runtime';
import { Registry } from 'prom-client';
import { createHealthMetrics } from '../../services/health/src/probing/metrics.js';
import { Prober } from '../../services/health/src/probing/prober.js';
import { findProxy, recordProbe } from '../../services/health/src/repositories/proxies.js';
import { type HealthStores, startHealthStores } from './health-stack.js';

const PROXY = { protocol: 'socks5' as const, host: '198.51.100.10', port: 1080 };
/** An operator's thresholds for flaky probes: three failures to go down, two successes to come back. */
const SETTINGS = { ...DEFAULT_SETTINGS, failThreshold: 3, recoverThreshold: 2 };

describe('health: a liveness loss (real Postgres, pgw_health)', { timeout: 60_000 }, () => {
  let stores: HealthStores | undefined;
  let health: Db;
  let bus: EventBus;
  let prober: Prober;

  before(async () => {
    stores = await startHealthStores('liveness-loss', { databasePrefix: 'pgw_hloss' });
    const logger = createLogger('liveness-loss-test', 'warn');
    health = createDb(stores.database.urlFor('pgw_health'), { applicationName: 'pgw-test-liveness-loss' });
    bus = new EventBus({ redisUrl: stores.redis.adminUrl, logger });
    prober = new Prober({
      db: health,
      bus,
      logger,
      metrics: createHealthMetrics(new Registry()),
      secretKey: randomBytes(32),
      trustedCa: [],
      settings: () => SETTINGS,
      checkProxyAddress: () => null,
      gatewayAddresses,
    });
  });
  after(async () => {
    await bus?.close();
    await health?.destroy();
    await stores?.stop();
  });

  const addProxy = async (name: string, state: { status: 'up' | 'down'; consecutiveSuccesses: number; consecutiveFailures: number }) =>
    (await stores!.database.db.insertInto('proxies').values({ name, ...PROXY, ...state }).returning('id').executeTakeFirstOrThrow()).id;
  const rowOf = (id: number) => stores!.database.db.selectFrom('proxies').select(['status', 'consecutiveSuccesses', 'consecutiveFailures']).where('id', '=', id).executeTakeFirstOrThrow();
  const historyOf = async (id: number) => (await stores!.database.db.selectFrom('proxyChecks').select(['ok', 'trigger']).where('proxyId', '=', id).orderBy('id').execute()).map((c) => `${c.trigger}:${c.ok}`);

  it('takes an up proxy down at once, with fail_threshold 3', async () => {
    const id = await addProxy('up-then-gone', { status: 'up', consecutiveSuccesses: 5, consecutiveFailures: 0 });
    const result = await prober.recordLoss({ id, ...PROXY }, 'connection refused');
    assert.equal(result?.ok, false);
    assert.equal((await rowOf(id)).status, 'down', 'its clients are blocked now, not after two more failed probes');
  });

  it('resets a recovery in progress, so a success that dialed before the loss does not bring the proxy up', async () => {
    const id = await addProxy('recovering', { status: 'down', consecutiveSuccesses: 1, consecutiveFailures: 0 });
    // A probe reads the row and dials; its answer is good, but it records late (its UDP check).
    const early = (await findProxy(health, id))!;
    // Meanwhile the proxy dies again and the watch sees it.
    await prober.recordLoss({ id, ...PROXY }, 'keepalive unanswered');
    assert.deepEqual(await rowOf(id), { status: 'down', consecutiveSuccesses: 0, consecutiveFailures: 1 });
    const late = await recordProbe(health, { proxyId: id, trigger: 'periodic', checkedAt: new Date(), ok: true, latencyMs: 5, exitIp: '198.51.100.10', error: null, probed: early }, SETTINGS);
    assert.deepEqual(late, { skipped: 'superseded' });
    assert.equal((await rowOf(id)).status, 'down', 'a dead proxy is not reported up');
  });

  it('records one loss per outage: a proxy down with no recovery begun gets no more rows (the positive control of the above)', async () => {
    const id = await addProxy('down-still', { status: 'down', consecutiveSuccesses: 0, consecutiveFailures: 4 });
    for (let i = 0; i < 3; i++) assert.equal(await prober.recordLoss({ id, ...PROXY }, 'connection refused'), null);
    assert.deepEqual(await historyOf(id), []);
    assert.deepEqual(await rowOf(id), { status: 'down', consecutiveSuccesses: 0, consecutiveFailures: 4 });
  });

  it('a loss while down with no recovery begun still marks the time: a success that dialed before it does not bring the proxy up', async () => {
    // recoverThreshold 1: one success would do. The probe reads the row (0 successes) and dials;
    // the proxy dies before it records; the watch's loss adds no row (one per outage) but the
    // probe, older than the loss, must not count.
    const quick = { ...SETTINGS, recoverThreshold: 1 };
    const id = await addProxy('down-then-probe', { status: 'down', consecutiveSuccesses: 0, consecutiveFailures: 2 });
    const early = (await findProxy(health, id))!;
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(await prober.recordLoss({ id, ...PROXY }, 'connection refused'), null);
    const late = await recordProbe(health, { proxyId: id, trigger: 'periodic', checkedAt: new Date(), ok: true, latencyMs: 5, exitIp: '198.51.100.10', error: null, probed: early }, quick);
    assert.deepEqual(late, { skipped: 'superseded' });
    assert.equal((await rowOf(id)).status, 'down', 'a dead proxy is not reported up');
  });
  it('a probe the watch asks for (a slow connect, a reconnect after a loss) counts against fail_threshold like any probe: one failure leaves an up proxy up', async () => {
    // Only the watch's own loss (refused, reset, keepalive unanswered) is down at once; its slow
    // connect is a reason to probe, and a probe's failure is the same evidence as a periodic one's.
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const { port } = dead.address() as AddressInfo;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const id = (await stores!.database.db.insertInto('proxies').values({ name: 'slow-connect', protocol: 'socks5', host: '127.0.0.1', port, status: 'up', consecutiveSuccesses: 5, consecutiveFailures: 0 }).returning('id').executeTakeFirstOrThrow()).id;
    const result = await prober.probe(id, 'liveness');
    assert.equal(result.ok, false);
    assert.deepEqual(await rowOf(id), { status: 'up', consecutiveSuccesses: 0, consecutiveFailures: 1 }, 'one failed probe took the proxy down with fail_threshold 3');
  });
});
