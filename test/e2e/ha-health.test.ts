// Health on both nodes of an HA pair (issue 18) in the real lab, on one real Postgres: both nodes
// run the health service, exactly one probes (the holder of the Postgres advisory lock; its
// /healthz says leader, the other's standby), so each proxy is probed once per period, not twice.
// SIGKILL the leader: the standby probes within one period plus the probe timeout, and no proxy's
// periodic probe is skipped (a gap of two periods) or doubled (two within one) on the way.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { createHaLab, type HaLab } from '../../lab/ha-topology.js';
import { waitFor } from '../../lab/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT } from '../support/gateway.js';
import { metricSamples, metricSum } from '../support/prometheus-text.js';

const PERIOD_S = 5;
const TIMEOUT_MS = 1000;
const PERIOD_MS = PERIOD_S * 1000;

let ha: HaLab;
let tdb: TestDatabase;
const gw = {} as Record<'a' | 'b', Gateway>;
const proxyIds: number[] = [];

async function healthz(node: 'a' | 'b'): Promise<string> {
  const r = await ha.lab.exec(gw[node].ns, ['curl', '-s', '--max-time', '1', 'http://127.0.0.1:9103/healthz'], { reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : `down (${r.exitCode})`;
}

/** pgw_health_probes_total summed over its results, and pgw_health_leader, from the node's metrics. */
async function probeMetrics(node: 'a' | 'b'): Promise<{ probes: number; leader: number }> {
  const text = (await ha.lab.exec(gw[node].ns, ['curl', '-sf', '--max-time', '1', 'http://127.0.0.1:9103/metrics'])).stdout;
  const probes = metricSum(text, 'pgw_health_probes_total');
  const leader = metricSamples(text, 'pgw_health_leader')[0]?.value ?? Number.NaN;
  return { probes, leader };
}

/** Every periodic probe recorded, per proxy, oldest first (ms). */
async function periodicChecks(): Promise<Map<number, number[]>> {
  const rows = await tdb.db.selectFrom('proxyChecks').select(['proxyId', 'checkedAt']).where('trigger', '=', 'periodic').orderBy('checkedAt').execute();
  const byProxy = new Map<number, number[]>(proxyIds.map((id) => [id, []]));
  for (const row of rows) byProxy.get(row.proxyId)?.push(row.checkedAt.getTime());
  return byProxy;
}

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

describe('HA pair: health on both nodes, one prober by Postgres advisory lock', { timeout: 180_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', join(REPO_ROOT, 'services/health')], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 240_000 });
    ha = await createHaLab({ clients: 1, proxies: ['socks5', 'http'] });
    tdb = await createTestDatabase({ prefix: 'pgw_hah' });
    await tdb.db.updateTable('settings').set({ healthIntervalS: PERIOD_S, probeTimeoutMs: TIMEOUT_MS, checkUrl: ha.lab.description.internet.echoUrl }).execute();
    const [a, b] = ha.nodes;
    gw.a = new Gateway(ha.lab, tdb, { ns: a.ns, dir: join(ha.lab.dir, 'node-a') });
    gw.b = new Gateway(ha.lab, tdb, { ns: b.ns, dir: join(ha.lab.dir, 'node-b'), secretKey: gw.a.secretKey });
    for (const proxy of ha.lab.proxies) proxyIds.push(await gw.a.seedProxy(proxy, { status: 'up' }));
  });

  after(async () => {
    await gw.a?.destroy();
    await gw.b?.destroy();
    await tdb?.drop();
    await ha?.destroy();
  });

  it('the first health to start leads and probes; the second stands by and probes nothing', async () => {
    await gw.a.start('health');
    await waitFor('node a to lead', 5_000, async () => (await healthz('a')) === 'ok leader', { intervalMs: 100 });
    await gw.b.start('health');
    await sleep(3 * PERIOD_MS);
    assert.equal(await healthz('a'), 'ok leader');
    assert.equal(await healthz('b'), 'ok standby');
    const [ma, mb] = [await probeMetrics('a'), await probeMetrics('b')];
    console.log(`# before the kill: node a ${ma.probes} probes (leader ${ma.leader}), node b ${mb.probes} (leader ${mb.leader})`);
    assert.deepEqual([ma.leader, mb.leader, mb.probes], [1, 0, 0]);
    assert.ok(ma.probes >= 2 * proxyIds.length, `node a probed each proxy every period: ${ma.probes}`);
    // One prober: each proxy once per period (two probers would probe it twice, at the same phase).
    for (const [id, times] of await periodicChecks()) {
      assert.ok(times.length >= 2, `proxy ${id} probed periodically: ${times.length}`);
      for (const gap of gaps(times)) assert.ok(Math.abs(gap - PERIOD_MS) < 1000, `proxy ${id}: periodic probes ${gaps(times).join(', ')} ms apart, not ${PERIOD_MS}`);
    }
  });

  it('the leader SIGKILLed: the standby probes within one period plus the probe timeout; no probe skipped or doubled', async () => {
    const before = await periodicChecks();
    await gw.a.kill('health');
    const killedAt = Date.now();
    await waitFor('node b to lead', PERIOD_MS + TIMEOUT_MS + 2_000, async () => (await healthz('b')) === 'ok leader', { intervalMs: 100 });
    const ledMs = Date.now() - killedAt;
    await waitFor('a periodic probe after the kill', PERIOD_MS + TIMEOUT_MS + 2_000, async () => {
      const after = await tdb.db.selectFrom('proxyChecks').select(sql<number>`count(*)::int`.as('n')).where('checkedAt', '>', new Date(killedAt)).executeTakeFirstOrThrow();
      return after.n > 0;
    }, { intervalMs: 100 });
    const firstProbeMs = Date.now() - killedAt;
    await sleep(2 * PERIOD_MS);
    const all = await periodicChecks();
    const mb = await probeMetrics('b');
    const worstGap = Math.max(...[...all.values()].flatMap(gaps));
    const leastGap = Math.min(...[...all.values()].flatMap(gaps));
    console.log(`# takeover: node b leads ${ledMs} ms after the kill, first probe after ${firstProbeMs} ms; per-proxy periodic gaps ${leastGap}-${worstGap} ms (period ${PERIOD_MS}); node b ${mb.probes} probes`);
    assert.ok(firstProbeMs <= PERIOD_MS + TIMEOUT_MS, `first probe ${firstProbeMs} ms after the kill (bound ${PERIOD_MS + TIMEOUT_MS})`);
    for (const [id, times] of all) {
      assert.ok(times.length > before.get(id)!.length + 1, `node b probes proxy ${id} periodically`);
      // Skipped: a gap of two periods (the phase passed unprobed). Doubled: two probes well inside one
      // period (two probers meet at the same phase). A proxy whose phase fell into the takeover is
      // probed as soon as the new leader runs, so its gap is one period plus that delay.
      for (const gap of gaps(times)) assert.ok(gap < 2 * PERIOD_MS - TIMEOUT_MS && gap >= PERIOD_MS / 4, `proxy ${id}: periodic probes ${gaps(times).join(', ')} ms apart`);
    }
    assert.equal(mb.leader, 1);
    assert.ok(mb.probes >= proxyIds.length);
  });

  it('the old leader restarted stands by: the lock stays with node b', async () => {
    await gw.a.start('health');
    await sleep(PERIOD_MS);
    assert.deepEqual([await healthz('a'), await healthz('b')], ['ok standby', 'ok leader']);
    assert.equal((await probeMetrics('a')).probes, 0);
  });
});
