// HA pair failover (issue 18), in the real lab through test/e2e/ha-harness.ts: two gateways with
// the full pgw dataplane and keepalived on one LAN and one WAN. Per round, each repairable fault
// of master a (keepalived SIGKILLed, LAN link down, agent+forwarder SIGKILLed): the time until a
// client's new connection exits from its own proxy through backup b, the longest gap the client
// saw, and failback to a after the hold-down. Then one split brain and one power loss of a.
// tcpdump on both nodes' eth0 throughout counts every packet with a client address (leaked);
// a positive control at the end proves the capture sees them when b stops enforcing.
// Ends with one JSON line.
// Usage: npm run bench:failover [-- --rounds 3]
import { parseArgs } from 'node:util';
import { cleanupStaleLabs } from '../../lab/index.js';
import { AFTER_SPLIT_BRAIN_MS, FAULTS, type FaultResult, leakControl, POWER_LOSS, runFault, splitBrain } from '../e2e/ha-faults.js';
import { createHaPair, waitMaster } from '../e2e/ha-harness.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const ROUNDS = Number(args.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 20) throw new Error(`--rounds must be 1..20 (is ${args.rounds})`);

const ms = (v: number | undefined) => (v === undefined ? 'none' : `${v} ms`);
const max = (values: (number | undefined)[]) => (values.some((v) => v === undefined) ? null : Math.max(...(values as number[])));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

await cleanupStaleLabs();
const pair = await createHaPair();
try {
  await pair.startKeepalived('a');
  await pair.startKeepalived('b');
  await waitMaster(pair, 'a');
  const wans = await pair.captureWans();
  const results: FaultResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const fault of FAULTS) {
      const r = await runFault(pair, fault);
      results.push(r);
      console.log(`round ${round} ${r.fault}: failover ${ms(r.failoverMs)} (longest gap ${r.outageMs} ms, api names b master after ${ms(r.recordedMs)}), failback ${ms(r.failbackMs)} incl. hold-down (longest gap ${r.failbackOutageMs} ms)`);
    }
  }
  const split = await splitBrain(pair, 4000);
  console.log(`split brain 4 s: both master ${split.bothMaster}, api conflict ${split.conflictShown}, ${split.failed}/${split.samples} probes failed, longest gap ${split.outageMs} ms`);
  // The bound the e2e uses: the clients may stay on b until a's periodic announcement.
  await waitMaster(pair, 'a', AFTER_SPLIT_BRAIN_MS);
  const leakedA = (await wans.stop('a')).leaked;
  const power = await runFault(pair, POWER_LOSS);
  results.push(power);
  console.log(`${power.fault}: failover ${ms(power.failoverMs)} (longest gap ${power.outageMs} ms, api names b master after ${ms(power.recordedMs)})`);
  const rest = await wans.stop();
  const leaked = [...leakedA, ...rest.leaked];
  for (const line of leaked) console.log(`LEAK ${line}`);
  const control = await leakControl(pair);
  console.log(`positive control: ${control} client packets seen on b's eth0 once b stopped enforcing`);

  const byFault: Record<string, { failoverMs: (number | null)[]; gapMs: number[]; failbackGapMs: number[] }> = {};
  for (const r of results) {
    const f = (byFault[r.fault] ??= { failoverMs: [], gapMs: [], failbackGapMs: [] });
    f.failoverMs.push(r.failoverMs ?? null);
    f.gapMs.push(r.outageMs);
    if (r.failbackOutageMs !== undefined) f.failbackGapMs.push(r.failbackOutageMs);
  }
  for (const [fault, f] of Object.entries(byFault)) {
    const done = f.failoverMs.filter((v): v is number => v !== null);
    console.log(`${fault}: failover median ${median(done)} ms, max ${max(f.failoverMs.map((v) => v ?? undefined))} ms over ${f.failoverMs.length}`);
  }
  console.log(JSON.stringify({
    bench: 'failover',
    rounds: ROUNDS,
    failoverMs: max(results.map((r) => r.failoverMs)),
    longestGapMs: Math.max(...results.map((r) => r.outageMs)),
    /** The slowest fault-to-api-names-b-master time (issue 18: the HA state as data). */
    recordedMs: max(results.map((r) => r.recordedMs)),
    failbackGapMs: Math.max(...results.flatMap((r) => (r.failbackOutageMs === undefined ? [] : [r.failbackOutageMs]))),
    splitBrain: { bothMaster: split.bothMaster, conflictShown: split.conflictShown, failedProbes: split.failed, probes: split.samples, longestGapMs: split.outageMs },
    leakedPackets: leaked.length,
    leakControlPackets: control,
    byFault,
  }));
} finally {
  await pair.destroy();
}
