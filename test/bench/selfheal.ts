// Self-heal restore times (issue 11.2): per fault, the time from the foreign nft transaction's
// commit to the commit that brings the last damaged table back (guard and inet pgw), p50/p99 over
// N trials, with the real agent in a lab; then a 3 s `nft flush ruleset` loop. Ends with one JSON line.
//   npm run bench:selfheal            (TRIALS=20 by default: node ... test/bench/selfheal.ts 50)
import { createDataplane } from '../e2e/dataplane-harness.js';
import { faults, percentile, runFault, spawnIn, tablesSnapshot, TransactionWatch } from '../e2e/selfheal-harness.js';
import { loadAverage1m } from './ops-machine.js';

/** Issue 11's goal for each restore (the product promises one second; agent-selfheal asserts that). */
const GOAL_P99_MS = 100;

const TRIALS = Number(process.argv[2] ?? 20);
if (!Number.isInteger(TRIALS) || TRIALS < 1) throw new Error(`trials must be a positive integer, got ${process.argv[2]}`);
const EFFECTIVE = '192.168.2.10';
const PORT = 20010;

async function main(): Promise<void> {
  const dp = await createDataplane({ clients: 4, proxies: ['socks5'] });
  let watch: TransactionWatch | undefined;
  try {
    await dp.loadGuard();
    await dp.addMapping(EFFECTIVE, await dp.addProxy(0, 'up'), PORT);
    await dp.addMapping('192.168.2.11', await dp.addProxy(0, 'down'), 20011);
    await dp.startAgent();
    await dp.waitFor('the agent to apply the mapping', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]));
    watch = await TransactionWatch.start(dp);
    const before = await tablesSnapshot(dp);
    const rows: { fault: string; p50: number; p99: number; max: number; notExact: number }[] = [];
    console.log(`self-heal restore times, ${TRIALS} trials per fault (load average ${loadAverage1m().toFixed(2)})`);
    console.log(`${'fault'.padEnd(58)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}`);
    for (const fault of faults(EFFECTIVE, PORT, '192.168.2.12')) {
      const trials = [];
      for (let i = 0; i < TRIALS; i++) trials.push(await runFault(dp, watch, fault, before));
      const ms = trials.map((t) => t.ms);
      const round = (v: number) => Math.round(v * 10) / 10;
      const row = { fault: fault.name, p50: round(percentile(ms, 50)), p99: round(percentile(ms, 99)), max: round(percentile(ms, 100)), notExact: trials.filter((t) => !t.exact).length };
      rows.push(row);
      console.log(`${row.fault.padEnd(58)} ${row.p50.toFixed(1).padStart(8)} ${row.p99.toFixed(1).padStart(8)} ${row.max.toFixed(1).padStart(8)}${row.notExact ? `  (${row.notExact} not restored exactly)` : ''}`);
    }

    const mark = watch.seen.length;
    const loop = spawnIn(dp.gw, ['timeout', '3', 'sh', '-c', 'while true; do nft flush ruleset; done']);
    await new Promise<void>((resolve) => loop.once('exit', () => resolve()));
    const flushes = watch.seen.slice(mark).filter((t) => t.changes.get('pgw') === 'removed' || t.changes.get('guard') === 'removed');
    const last = flushes.at(-1)!;
    const from = watch.seen.indexOf(last) + 1;
    const guardBack = await watch.until((t) => t.changes.get('guard') === 'replaced', from, 3000);
    const pgwBack = await watch.until((t) => t.changes.get('pgw') === 'replaced', from, 3000);
    const loopBackMs = guardBack && pgwBack ? Math.max(guardBack.at, pgwBack.at) - last.at : null;
    const restores = watch.seen.slice(mark).filter((t) => t.changes.get('pgw') === 'replaced').length;
    console.log(`3 s flush loop: ${flushes.length} flushes, ${restores} inet pgw restores, both tables back ${loopBackMs?.toFixed(1) ?? 'never'} ms after the last flush`);
    const goalMet = rows.every((r) => r.p99 <= GOAL_P99_MS);
    console.log(`goal: every fault's p99 <= ${GOAL_P99_MS} ms (issue 11): ${goalMet ? 'met' : `NOT met (${rows.filter((r) => r.p99 > GOAL_P99_MS).map((r) => r.fault).join('; ')})`}`);
    console.log(JSON.stringify({ bench: 'selfheal', trials: TRIALS, goalP99Ms: GOAL_P99_MS, goalMet, faults: rows, flushLoop: { flushes: flushes.length, restores, backMs: loopBackMs === null ? null : Math.round(loopBackMs * 10) / 10 } }));
  } finally {
    watch?.stop();
    await dp.destroy();
  }
}

await main();
