/**
 * The chaos matrix as a benchmark (npm run bench:chaos): the faults of test/e2e/chaos-faults.ts,
 * each --trials times, in the lab of test/e2e/chaos-harness.ts (every pgw service, LAN clients
 * loading it, tcpdump on eth0 and a crafted-SYN prober all along, positive controls first). One row
 * per fault: time to recover (every load client effective again, from the fault), packets leaked on
 * eth0, SYN-ACKs of gateway sockets to the LAN, client connections failed, refused and reset, both
 * tables back; then one JSON line.
 *
 * Usage: node --conditions=pgw-source --import tsx test/bench/chaos.ts [--trials 3] [--only key,key]
 */
import { parseArgs } from 'node:util';
import { CHAOS_FAULTS } from '../e2e/chaos-faults.js';
import { createChaosLab, type FaultRow, leaksSince, runFault } from '../e2e/chaos-harness.js';
import { machineLoad } from './ops-machine.js';

const { values: args } = parseArgs({ options: { trials: { type: 'string', default: '3' }, only: { type: 'string' } } });
const TRIALS = Number(args.trials);
if (!Number.isInteger(TRIALS) || TRIALS < 1 || TRIALS > 50) throw new Error(`--trials must be 1..50, got ${JSON.stringify(args.trials)}`);
const only = args.only?.split(',');
const unknown = only?.filter((key) => !CHAOS_FAULTS.some((f) => f.key === key)) ?? [];
if (unknown.length > 0) throw new Error(`--only: unknown fault ${unknown.join(', ')} (known: ${CHAOS_FAULTS.map((f) => f.key).join(', ')})`);
const FAULTS = CHAOS_FAULTS.filter((f) => !only || only.includes(f.key));
const SELF_HEAL_MS = 100;
const IDLE_BLOCK_MS = 1000;

const maxOf = (values: (number | null | undefined)[]) => (values.some((v) => v === null) ? null : Math.max(0, ...values.map((v) => v ?? 0)));
const p50Of = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? null;

function summarise(rows: FaultRow[]) {
  const sum = (f: (r: FaultRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  const tables = rows.filter((r) => r.tablesBackMs !== undefined).map((r) => r.tablesBackMs ?? null);
  const extras: Record<string, (number | string | null)[]> = {};
  for (const r of rows) for (const [k, v] of Object.entries(r.extra)) (extras[k] ??= []).push(v);
  return {
    trials: rows.length,
    maxRecoveryMs: maxOf(rows.map((r) => r.recoveryMs)),
    p50RecoveryMs: rows.some((r) => r.recoveryMs === null) ? null : p50Of(rows.map((r) => r.recoveryMs!)),
    leakedPackets: sum((r) => r.leaked.length),
    localSocketReaches: sum((r) => r.reaches.length),
    synsSent: sum((r) => r.synsSent),
    requests: sum((r) => r.requests),
    failed: sum((r) => r.failed),
    refused: sum((r) => r.refused),
    reset: sum((r) => r.reset),
    tablesBackMs: tables.length ? { p50: tables.includes(null) ? null : p50Of(tables as number[]), max: maxOf(tables) } : null,
    postcondition: [...new Set(rows.flatMap((r) => r.postcondition))],
    reachedPorts: [...new Set(rows.flatMap((r) => r.reaches.map((a) => `${a.dst}:${a.port}`)))],
    extras,
  };
}

function passes(key: string, selfHeal: boolean, s: ReturnType<typeof summarise>): string[] {
  const why: string[] = [];
  if (s.leakedPackets > 0) why.push(`${s.leakedPackets} leaked`);
  if (s.localSocketReaches > 0) why.push(`${s.localSocketReaches} local-socket reaches (${s.reachedPorts.join(' ')})`);
  if (s.maxRecoveryMs === null) why.push('not recovered');
  if (s.postcondition.length > 0) why.push(s.postcondition.join('; '));
  if (selfHeal && !(s.tablesBackMs?.max != null && s.tablesBackMs.max <= SELF_HEAL_MS)) why.push(`tables back ${s.tablesBackMs?.max ?? 'never'} ms`);
  if ((key === 'kill-forwarder' || key === 'forwarder-restart') && s.refused > 0) why.push(`${s.refused} refused`);
  if (key === 'proxy-kill-idle' && !s.extras.blockedMs!.every((v) => typeof v === 'number' && v <= IDLE_BLOCK_MS)) why.push(`idle blocked ${s.extras.blockedMs!.join('/')} ms`);
  if (key === 'state-disk-full' && s.extras.stateWrittenMs!.includes(null)) why.push('state file not written once there was room');
  return why;
}

async function main(): Promise<void> {
  const loadAtStart = machineLoad();
  console.log(`machine at start: ${loadAtStart}; ${TRIALS} trial(s) per fault`);
  const c = await createChaosLab((line) => console.log(line));
  try {
    const startedAt = Date.now();
    const rows = new Map<string, FaultRow[]>();
    for (let trial = 1; trial <= TRIALS; trial++) {
      for (const fault of FAULTS) {
        const row = await runFault(c, fault);
        (rows.get(fault.key) ?? rows.set(fault.key, []).get(fault.key)!).push(row);
        const extra = Object.entries(row.extra).map(([k, v]) => `${k} ${v}`).join(', ');
        console.log(`  #${trial} ${fault.name}: recovery ${row.recoveryMs ?? 'never'} ms, ${row.leaked.length} leaked, ${row.reaches.length} reaches, ${row.failed}/${row.requests} failed (${row.refused} refused, ${row.reset} reset)${row.tablesBackMs !== undefined ? `, tables back ${row.tablesBackMs ?? 'never'} ms` : ''}${extra ? `; ${extra}` : ''}`);
      }
    }
    const wholeRun = (await leaksSince(c, startedAt)).length;
    const summaries = FAULTS.map((f) => ({ key: f.key, fault: f.name, ...summarise(rows.get(f.key)!), failing: passes(f.key, f.selfHeal ?? false, summarise(rows.get(f.key)!)) }));
    const cell = (v: number | null | undefined, w: number) => (v === undefined ? '-' : v === null ? 'never' : String(Math.round(v))).padStart(w);
    console.log('');
    console.log(`${'fault'.padEnd(40)} ${'recovery max/p50 ms'.padStart(19)} ${'leaked'.padStart(6)} ${'reaches'.padStart(7)} ${'failed'.padStart(9)} ${'refused'.padStart(7)} ${'reset'.padStart(5)} ${'tables max ms'.padStart(13)}  verdict`);
    for (const s of summaries) {
      console.log(`${s.fault.padEnd(40)} ${`${cell(s.maxRecoveryMs, 0)}/${cell(s.p50RecoveryMs, 0)}`.padStart(19)} ${String(s.leakedPackets).padStart(6)} ${String(s.localSocketReaches).padStart(7)} ${`${s.failed}/${s.requests}`.padStart(9)} ${String(s.refused).padStart(7)} ${String(s.reset).padStart(5)} ${cell(s.tablesBackMs?.max, 13)}  ${s.failing.length ? `FAIL: ${s.failing.join('; ')}` : 'ok'}`);
    }
    const pass = summaries.every((s) => s.failing.length === 0) && wholeRun === 0;
    console.log(`eth0 over the whole run: ${wholeRun} packets with a client or loopback address (positive control saw ${c.controls.wanPackets}; the prober's control saw ${c.controls.synAcks} SYN-ACKs)`);
    const loadAtEnd = machineLoad();
    console.log(`machine at end: ${loadAtEnd}; ${pass ? 'PASS' : 'FAIL'}`);
    console.log(JSON.stringify({ bench: 'chaos', trialsPerFault: TRIALS, loadAtStart, loadAtEnd, controls: c.controls, probedPorts: c.ports, faults: summaries, wholeRunLeakedPackets: wholeRun, pass }));
    if (!pass) process.exitCode = 1;
  } finally {
    await c.destroy();
  }
}

await main();
