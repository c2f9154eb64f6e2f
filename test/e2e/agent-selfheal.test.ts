// Self-heal driven by nft events (issue 11, point 2): with the real agent in a lab, every foreign
// change to table inet pgw or the guard table inet pgw_guard is undone (goal 100 ms, bench:selfheal), a flush loop
// neither starves the agent nor leaves the tables away once it stops. Restore times are measured
// between kernel commits (selfheal-harness.ts); eth0 is captured under client load and what it saw
// is printed (the kernel backstop of point 1 may stop a leak even while the tables are away).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AGENT_METRICS_PORT, createDataplane, type Dataplane } from './dataplane-harness.js';
import { agentMonitorPid, faults, percentile, runFault, spawnIn, tablesSnapshot, TransactionWatch, type Trial } from './selfheal-harness.js';

const EFFECTIVE = '192.168.2.10';
const BLOCKED = '192.168.2.11';
const UNMAPPED = '192.168.2.12';
const PORT = 20010;
/**
 * The product's promise for each restore, asserted on the p99 of the trials: the 100 ms goal of
 * issue 11 is printed beside each figure here and judged by `npm run bench:selfheal` (goalMet in
 * its JSON line): a timed goal in a test flakes with the machine (this 2-core box restores a flush
 * in p50 ~100 ms on the code that met it elsewhere with p50 35 ms).
 */
const BOUND_MS = 1000;
const GOAL_MS = 100;
/**
 * One sample (the end of a flush loop, one flush after a monitor restart): bounded by the product's
 * one-second promise, the figure printed. The 100 ms goal is a p99 over many trials (the tests above,
 * and bench:selfheal): one sample on a loaded 2-core CI machine proves nothing either way.
 */
const SINGLE_SAMPLE_MS = 1000;
const FLUSH_TRIALS = 20;
const OTHER_TRIALS = 5;

let dp: Dataplane;
let watch: TransactionWatch;
let before_: Awaited<ReturnType<typeof tablesSnapshot>>;

/** Client TCP from every client to the WAN host, each client again and again (10 ms apart), until stopped. */
function clientLoad(): { stop(): Promise<number> } {
  let running = true;
  let attempts = 0;
  const internet = dp.lab.description.internet;
  const loops = dp.lab.clients.map(async (src) => {
    while (running) {
      await dp.prober.tcp(src, internet.ip, internet.httpPort, 300);
      attempts++;
      await new Promise((resolve) => setTimeout(resolve, 10)); // a steady load, not a CPU burner
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return attempts;
    },
  };
}

function summary(name: string, trials: readonly Trial[]): string {
  const ms = trials.map((t) => t.ms);
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'never');
  return `# ${name}: restored in p50 ${f(percentile(ms, 50))} ms, p99 ${f(percentile(ms, 99))} ms, max ${f(percentile(ms, 100))} ms (${trials.length} trials; goal p99 <= ${GOAL_MS} ms)`;
}

describe('agent self-heal on nft events (issue 11.2)', { timeout: 300_000 }, () => {
  before(async () => {
    dp = await createDataplane({ clients: 4, proxies: ['socks5'] });
    await dp.loadGuard();
    const up = await dp.addProxy(0, 'up');
    const down = await dp.addProxy(0, 'down');
    await dp.addMapping(EFFECTIVE, up, PORT);
    await dp.addMapping(BLOCKED, down, 20011);
    await dp.startAgent();
    await dp.waitFor('the agent to apply the mappings', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]));
    watch = await TransactionWatch.start(dp);
    before_ = await tablesSnapshot(dp);
    assert.ok(before_.guard && before_.pgw, 'both tables in force before the faults');
  });

  after(async () => {
    watch?.stop();
    await dp?.destroy();
  });

  it(`nft flush ruleset with the agent alive: both tables back exactly, p99 of ${FLUSH_TRIALS} trials ≤ ${BOUND_MS} ms, under client load`, async () => {
    const [flush] = faults(EFFECTIVE, PORT, UNMAPPED);
    const capture = await dp.captureWan();
    const load = clientLoad();
    const trials: Trial[] = [];
    try {
      for (let i = 0; i < FLUSH_TRIALS; i++) trials.push(await runFault(dp, watch, flush!, before_));
    } finally {
      const attempts = await load.stop();
      const wan = await capture.stop();
      console.log(`# flush trials: ${attempts} client connection attempts; ${wan.fromClients.length} packets with a client address on eth0`);
    }
    console.log(summary(flush!.name, trials));
    for (const [i, t] of trials.entries()) assert.ok(t.exact, `trial ${i}: tables not restored exactly: ${t.detail}`);
    assert.ok(percentile(trials.map((t) => t.ms), 99) <= BOUND_MS, `p99 ${percentile(trials.map((t) => t.ms), 99)} ms > ${BOUND_MS} ms`);
  });

  it(`each table, chain, rule and set element fault is undone within ${BOUND_MS} ms`, async () => {
    const failures: string[] = [];
    for (const fault of faults(EFFECTIVE, PORT, UNMAPPED).slice(1)) {
      const trials: Trial[] = [];
      for (let i = 0; i < OTHER_TRIALS; i++) trials.push(await runFault(dp, watch, fault, before_));
      console.log(summary(fault.name, trials));
      const p99 = percentile(trials.map((t) => t.ms), 99);
      if (p99 > BOUND_MS) failures.push(`${fault.name}: p99 ${p99} ms`);
      for (const t of trials) if (!t.exact) failures.push(`${fault.name}: not restored exactly (${t.detail})`);
    }
    assert.deepEqual(failures, []);
  });

  it(`a 3 s flush loop under client load: the agent stays responsive and both tables are back ≤ ${SINGLE_SAMPLE_MS} ms after it stops`, async () => {
    const capture = await dp.captureWan();
    const load = clientLoad();
    const mark = watch.seen.length;
    const healthz: number[] = [];
    // Bounded: `timeout` ends the loop after 3 s whatever happens to this test.
    const loop = spawnIn(dp.gw, ['timeout', '3', 'sh', '-c', 'while true; do nft flush ruleset; done']);
    const loopEnded = new Promise<void>((resolve) => loop.once('exit', () => resolve()));
    let looping = true;
    void loopEnded.then(() => (looping = false));
    while (looping) {
      const started = performance.now();
      const r = await dp.lab.exec(dp.gw, ['curl', '-sf', '--max-time', '2', `http://127.0.0.1:${AGENT_METRICS_PORT}/healthz`], { reject: false });
      healthz.push(r.exitCode === 0 ? performance.now() - started : Number.POSITIVE_INFINITY);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await loopEnded;
    const flushes = watch.seen.slice(mark).filter((t) => t.changes.get('pgw') === 'removed' || t.changes.get('guard') === 'removed');
    const last = flushes.at(-1);
    assert.ok(last, 'the loop flushed');
    const from = watch.seen.indexOf(last) + 1;
    const guardBack = await watch.until((t) => t.changes.get('guard') === 'replaced', from, 3000);
    const pgwBack = await watch.until((t) => t.changes.get('pgw') === 'replaced', from, 3000);
    const attempts = await load.stop();
    const wan = await capture.stop();
    const restores = watch.seen.slice(mark).filter((t) => t.changes.get('pgw') === 'replaced').length;
    const backMs = guardBack && pgwBack ? Math.max(guardBack.at, pgwBack.at) - last.at : null;
    console.log(`# flush loop: ${flushes.length} flushes, ${restores} inet pgw restores; healthz p50 ${percentile(healthz, 50).toFixed(1)} ms, max ${percentile(healthz, 100).toFixed(1)} ms; both tables back ${backMs?.toFixed(1) ?? 'never'} ms after the last flush`);
    console.log(`# flush loop: ${attempts} client connection attempts; ${wan.fromClients.length} packets with a client address on eth0`);
    assert.ok(backMs !== null && backMs <= SINGLE_SAMPLE_MS, `tables back ${backMs} ms after the last flush`);
    assert.ok(percentile(healthz, 100) < 1000, `healthz answered in ${percentile(healthz, 100)} ms at worst during the loop`);
    assert.ok(restores <= flushes.length + 2, `coalesced: ${restores} restores for ${flushes.length} flushes`);
    const after = await tablesSnapshot(dp);
    assert.equal(after.guard, before_.guard);
    assert.equal(after.pgw, before_.pgw);
  });

  it('the agent restarts a dead nft monitor, and the self-heal works again', async () => {
    const mark = watch.seen.length;
    const first = await agentMonitorPid(dp);
    assert.ok(first, 'the agent runs nft monitor');
    process.kill(first, 'SIGKILL');
    const second = await dp.waitFor('a new nft monitor', async () => {
      const pid = await agentMonitorPid(dp);
      return pid !== null && pid !== first;
    }, 5_000);
    console.log(`# nft monitor killed: a new one ran after ${second} ms`);
    // Wait for the new monitor to subscribe: the agent marks it ready with its probe transaction.
    await dp.waitFor('the agent’s readiness marker', async () => watch.seen.slice(mark).some((t) => t.probe), 5_000);
    const trial = await runFault(dp, watch, faults(EFFECTIVE, PORT, UNMAPPED)[0]!, before_);
    console.log(summary('nft flush ruleset after a monitor restart', [trial]));
    assert.ok(trial.exact, trial.detail);
    assert.ok(trial.ms !== null && trial.ms <= SINGLE_SAMPLE_MS, `restored in ${trial.ms} ms`);
  });

  it('a guard emptied while no nft monitor ran (between a monitor\'s death and its restart) is loaded again', async () => {
    // Nothing saw that transaction: the restart's check only asked whether table inet pgw_guard
    // was there, and an emptied guard is there, so it stayed empty for good (no LAN drop at all
    // while inet pgw was absent). A restarted monitor now reloads the guard from its file.
    const first = await agentMonitorPid(dp);
    assert.ok(first, 'the agent runs nft monitor');
    process.kill(first, 'SIGKILL');
    await dp.nft('flush', 'chain', 'inet', 'pgw_guard', 'forward');
    await dp.waitFor('a new nft monitor', async () => {
      const pid = await agentMonitorPid(dp);
      return pid !== null && pid !== first;
    }, 5_000);
    await guardLoadedAgain('after the monitor restarted', 5_000);
  });

  it('a guard emptied while the agent was stopped is loaded again when it starts', async () => {
    // The first subscription only loaded a guard that was absent: one emptied meanwhile stayed so.
    await dp.killAgent();
    await dp.nft('flush', 'chain', 'inet', 'pgw_guard', 'forward');
    await dp.startAgent();
    await guardLoadedAgain('after the agent started', 10_000);
  });

  /** Waits for the guard's forward drop (flushed by the test) to be back, then for the whole guard as its file loads it. */
  async function guardLoadedAgain(when: string, timeoutMs: number): Promise<void> {
    const forward = async () => (await dp.nft('list', 'chain', 'inet', 'pgw_guard', 'forward')).stdout;
    try {
      await dp.waitFor('the guard\'s forward drop back', async () => (await forward()).includes('iifname "ens19" drop'), timeoutMs);
    } catch {
      assert.fail(`the guard stayed emptied ${when}: ${(await forward()).replace(/\s+/g, ' ')}`);
    }
    assert.equal((await tablesSnapshot(dp)).guard, before_.guard, 'the guard exactly as its file loads it');
  }
});
