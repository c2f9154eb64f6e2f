// A probe that straddles an edit of its proxy's endpoint (the health service in-process, Postgres
// as pgw_health, a private Redis, real dantes on loopback addresses). The probe dials the endpoint
// it read when it started; what it finds says nothing about the endpoint the row has once it ends.
// Its result must not become the new endpoint's status or exit IP (an edit to a dead proxy would be
// reported up, with the old exit), and the new endpoint must be probed at once, not a period later:
// the edit's own probe was dropped while the old one ran under the same job id.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createDb } from '@pgw/db';
import { DEFAULT_SETTINGS } from '@pgw/domain';
import { createLogger } from '@pgw/log';
import { gatewayAddresses } from '@pgw/runtime';
import { Registry } from 'prom-client';
import { createHealthMetrics } from '../../services/health/src/probing/metrics.js';
import { Prober } from '../../services/health/src/probing/prober.js';
import { startDante } from '../../lab/proxies.js';
import type { ProxyHandle, RedisHandle } from '../../lab/types.js';
import type { TestDatabase } from '../support/database.js';
import { insertQuietProxy } from '../support/quiet-proxy.js';
import { type SlowRelay, startSlowRelay } from '../support/slow-relay.js';
import { type IpEcho, startIpEcho } from '../support/ip-echo.js';
import { type HealthStack, type HealthStores, startHealthStack, startHealthStores } from './health-stack.js';

const SUBNET = `127.64.${randomInt(1, 250)}`;
const ECHO_IP = `${SUBNET}.100`;
/** How long the slow front holds a probe before it lets it through to dante: the edit lands meanwhile. */
const HOLD_MS = 1_000;
const FRONT = { host: `${SUBNET}.21`, port: 1080 };
/** A period far longer than the test, and proxies off their phase for all of it: a probe of the new endpoint within seconds is the edit's own. */
const QUIET = { intervalS: 300, quietMs: 90_000 };

describe('health service: a probe in flight when its proxy\'s endpoint is edited', { timeout: 90_000 }, () => {
  let database: TestDatabase;
  let stores: HealthStores | undefined;
  let redis: RedisHandle;
  let stack: HealthStack;
  let oldExit: ProxyHandle;
  let newExit: ProxyHandle;
  let front: SlowRelay;
  let echo: IpEcho;

  const rowOf = (id: number) =>
    database.db.selectFrom('proxies').select(['status', 'exitIp', 'lastError', 'host']).where('id', '=', id).executeTakeFirstOrThrow();
  const checksOf = (id: number) => database.db.selectFrom('proxyChecks').select(['ok', 'exitIp', 'trigger']).where('proxyId', '=', id).orderBy('id').execute();

  /** As the api writes it (role pgw_api; its trigger resets the status to unknown), then the notice's reconcile. */
  async function editHost(id: number, host: string): Promise<void> {
    const apiDb = createDb(database.urlFor('pgw_api'), { applicationName: 'pgw-endpoint-edit-test-api' });
    try {
      await apiDb.updateTable('proxies').set({ host, updatedAt: new Date() }).where('id', '=', id).execute();
    } finally {
      await apiDb.destroy();
    }
    await stack.health.reconcile();
  }

  /**
   * A new proxy behind the slow front; the scheduler probes it at once (status unknown), as a
   * periodic probe. Returns once that probe is held, with the promise of its end.
   */
  async function addSlowProxy(name: string): Promise<{ id: number; held: Promise<void> }> {
    const id = await insertQuietProxy(database.db, { name, protocol: 'socks5', host: FRONT.host, port: FRONT.port }, QUIET);
    const arrived = front.nextConnection();
    await stack.health.reconcile();
    return { id, held: (await arrived).ended };
  }

  before(async () => {
    stores = await startHealthStores('endpoint-edit-test');
    ({ database, redis } = stores);
    echo = await startIpEcho(ECHO_IP);
    await database.db.updateTable('settings').set({ healthIntervalS: QUIET.intervalS, probeTimeoutMs: 3000, checkUrl: echo.checkUrl }).where('id', '=', 1).execute();
    oldExit = await startDante({ ip: `${SUBNET}.11`, port: 1080 });
    newExit = await startDante({ ip: `${SUBNET}.13`, port: 1080 });
    front = await startSlowRelay(FRONT, { host: oldExit.ip, port: oldExit.port }, HOLD_MS);
    // The probe path alone: the liveness connection would also reach the slow front.
    stack = await startHealthStack(database, redis, { name: 'endpoint-edit-test', secretKey: randomBytes(32), proxyAllowNetworks: [`${SUBNET}.0/24`], liveness: false });
  });

  after(async () => {
    await stack?.stop();
    front?.close();
    echo?.close();
    await oldExit?.stop();
    await newExit?.stop();
    await stores?.stop();
  });

  it('edited to another working proxy: the new endpoint is probed at once and its exit IP recorded, not the old one\'s', async () => {
    const { id, held } = await addSlowProxy('moved');
    await editHost(id, newExit.ip);
    await held;
    await stack.settled(5_000);
    const row = await rowOf(id);
    assert.deepEqual([row.status, row.exitIp, row.lastError], ['up', newExit.ip, null], 'the new endpoint up with its own exit IP');
    const checks = await checksOf(id);
    assert.ok(checks.length > 0, 'the new endpoint was probed');
    assert.deepEqual(checks.filter((c) => !c.ok || c.exitIp !== newExit.ip), [], 'only the new endpoint\'s probes are on record');
  });

  it('edited to a dead endpoint: never reported up through the old proxy, down at once naming the new address', async () => {
    const { id, held } = await addSlowProxy('dead-end');
    const dead = `${SUBNET}.31`;
    await editHost(id, dead);
    await held;
    await stack.settled(5_000);
    const row = await rowOf(id);
    assert.equal(row.status, 'down');
    assert.match(String(row.lastError), new RegExp(dead.replaceAll('.', '\\.')));
    const checks = await checksOf(id);
    assert.ok(checks.length > 0, 'the new endpoint was probed');
    assert.deepEqual(checks.filter((c) => c.ok), [], 'the old proxy\'s success is not on record for the dead endpoint');
  });

  it('a liveness loss from the watch of the address the proxy had before an edit records nothing', async () => {
    const id = await insertQuietProxy(database.db, { name: 'watched', protocol: 'socks5', host: newExit.ip, port: newExit.port }, QUIET);
    const prober = new Prober({
      db: stack.healthDb,
      bus: stack.bus,
      logger: createLogger('endpoint-edit-test', 'warn'),
      metrics: createHealthMetrics(new Registry()),
      secretKey: randomBytes(32),
      trustedCa: [],
      settings: () => DEFAULT_SETTINGS,
      checkProxyAddress: () => null,
      gatewayAddresses,
    });
    // The watch of the old address reports its death before the reconcile replaces it.
    assert.equal(await prober.recordLoss({ id, ...FRONT }, 'refused'), null);
    assert.equal((await rowOf(id)).status, 'unknown');
    assert.deepEqual(await checksOf(id), []);
    // The watch of the address the proxy has is recorded (the positive control).
    const recorded = await prober.recordLoss({ id, host: newExit.ip, port: newExit.port }, 'refused');
    assert.equal(recorded?.ok, false);
    assert.equal((await rowOf(id)).status, 'down');
  });
});
