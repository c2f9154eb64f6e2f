// A probe asked for while the same probe runs (the health service in-process, Postgres as
// pgw_health, a private Redis and BullMQ, a real dante behind a slow front on loopback). The
// running probe may have dialed before the failure it is now asked about: the forwarder's next
// report must get a probe that starts after it. BullMQ drops an add whose job id is taken, also
// while that job runs; with one id per proxy and trigger the report was lost, and a proxy that died
// meanwhile stayed up until the next period (30 s by default) with its clients' connections failing.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startDante } from '../../lab/proxies.js';
import type { ProxyHandle, RedisHandle } from '../../lab/types.js';
import { waitFor } from '../../lab/wait.js';
import { insertQuietProxy } from '../support/quiet-proxy.js';
import type { TestDatabase } from '../support/database.js';
import { type SlowRelay, startSlowRelay } from '../support/slow-relay.js';
import { type IpEcho, startIpEcho } from '../support/ip-echo.js';
import { type HealthStack, type HealthStores, startHealthStack, startHealthStores } from './health-stack.js';

const SUBNET = `127.65.${randomInt(1, 250)}`;
/** How long the slow front holds each probe before it lets it through to dante. */
const HOLD_MS = 1_500;
const FRONT = { host: `${SUBNET}.21`, port: 1080 };
/** A second front for the flood of reports, so that its connections are its proxy's alone. */
const FLOODED_FRONT = { host: `${SUBNET}.22`, port: 1080 };
/** A period far longer than the test, and a proxy off its phase for all of it: every probe after the first is one a report asked for. */
const PERIOD_S = 300;

describe('health service: a probe asked for while the same probe runs', { timeout: 90_000 }, () => {
  let database: TestDatabase;
  let stores: HealthStores | undefined;
  let redis: RedisHandle;
  let stack: HealthStack;
  let dante: ProxyHandle;
  let front: SlowRelay;
  let floodedFront: SlowRelay;
  let echo: IpEcho;

  const checksOf = (id: number) => database.db.selectFrom('proxyChecks').select(['ok', 'trigger']).where('proxyId', '=', id).orderBy('id').execute();
  const reportFailure = (proxyId: number, failures: number) => stack.bus.publish({ type: 'forwarder.upstream_failure', proxyId, reason: 'connect_failed', failures });

  before(async () => {
    stores = await startHealthStores('probe-requests-test');
    ({ database, redis } = stores);
    echo = await startIpEcho(`${SUBNET}.100`);
    await database.db.updateTable('settings').set({ healthIntervalS: PERIOD_S, probeTimeoutMs: 5000, checkUrl: echo.checkUrl }).where('id', '=', 1).execute();
    dante = await startDante({ ip: `${SUBNET}.11`, port: 1080 });
    front = await startSlowRelay(FRONT, { host: dante.ip, port: dante.port }, HOLD_MS);
    floodedFront = await startSlowRelay(FLOODED_FRONT, { host: dante.ip, port: dante.port }, HOLD_MS);
    // The probe path alone: the liveness connection would also reach the slow front.
    stack = await startHealthStack(database, redis, { name: 'probe-requests-test', secretKey: randomBytes(32), proxyAllowNetworks: [`${SUBNET}.0/24`], liveness: false, upstreamDebounceMs: 20 });
  });

  after(async () => {
    await stack?.stop();
    front?.close();
    floodedFront?.close();
    echo?.close();
    await dante?.stop();
    await stores?.stop();
  });

  it('an upstream failure reported while its proxy\'s upstream-failure probe runs gets a probe of its own, after it', async () => {
    const id = await insertQuietProxy(database.db, { name: 'reported', protocol: 'socks5', host: FRONT.host, port: FRONT.port }, { intervalS: PERIOD_S, quietMs: 90_000 });
    await stack.health.reconcile(); // status unknown: probed at once
    await waitFor('the new proxy\'s first probe on record', 10_000, async () => (await checksOf(id)).length === 1);
    assert.deepEqual(await checksOf(id), [{ ok: true, trigger: 'periodic' }]);

    const first = front.nextConnection();
    await reportFailure(id, 3);
    const running = await first;
    // The first report's probe is held at the front: it dialed before whatever the next report is about.
    const second = front.nextConnection();
    await reportFailure(id, 4);
    await running.ended;
    let secondArrived = false;
    void second.then(() => (secondArrived = true));
    await waitFor('a probe of its own for the report made while the probe ran', HOLD_MS + 5_000, () => secondArrived);
    await stack.settled(10_000);
    let seen: Awaited<ReturnType<typeof checksOf>> = [];
    await waitFor('both reports\' probes on record', 5_000, async () => (seen = await checksOf(id)).length === 3, { detail: () => `on record: ${JSON.stringify(seen)}` });
    assert.deepEqual(await checksOf(id), [
      { ok: true, trigger: 'periodic' },
      { ok: true, trigger: 'upstream_failure' },
      { ok: true, trigger: 'upstream_failure' },
    ]);
  });

  it('reports arriving faster than the probe finishes run one probe of the proxy at a time, and one more after the last report', async () => {
    // A proxy crash-looping (accepting, then refusing) makes the liveness watch ask for a probe
    // every half second, and a forwarder reports failures as fast: a job was added for each request
    // made while the last one ran, and each took a worker slot of its own, up to the 32 shared by
    // every proxy's probes (a proxy holding each probe for the whole timeout held them all).
    const id = await insertQuietProxy(database.db, { name: 'flooded', protocol: 'socks5', host: FLOODED_FRONT.host, port: FLOODED_FRONT.port }, { intervalS: PERIOD_S, quietMs: 90_000 });
    await stack.health.reconcile();
    await waitFor('the flooded proxy\'s first probe on record', 10_000, async () => (await checksOf(id)).length === 1);
    // The first probe also asked for UDP support, on a connection of its own; the next ones do not
    // (asked again after 10 minutes): each holds one connection at the front.
    floodedFront.resetMostAtOnce();
    const REPORTS = 20;
    for (let i = 0; i < REPORTS; i++) {
      await reportFailure(id, 3 + i);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const lastReportAt = Date.now();
    await stack.settled(20_000);
    assert.equal(floodedFront.mostAtOnce(), 1, `connections of the one proxy's probes held at its front at once: ${floodedFront.mostAtOnce()}`);
    const probes = await database.db.selectFrom('proxyChecks').select(['trigger', 'checkedAt', 'latencyMs']).where('proxyId', '=', id).where('trigger', '=', 'upstream_failure').orderBy('id').execute();
    const last = probes.at(-1);
    assert.ok(last !== undefined && last.checkedAt.getTime() - (last.latencyMs ?? 0) >= lastReportAt - 150, `a probe started after the last report: ${JSON.stringify(probes)}`);
    console.log(`# ${REPORTS} reports in ${REPORTS * 100} ms, probes held ${HOLD_MS} ms each: ${probes.length} probes, at most ${floodedFront.mostAtOnce()} connections at once`);
  });

});
