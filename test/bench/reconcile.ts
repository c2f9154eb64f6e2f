// Agent reconcile benchmark: full and one-change apply times for 256, 4096 and 16384 mappings against
// the real nft in a lab gateway namespace; then the real agent with each count: start to applied,
// notice to 16 clients blocked, p50/p99 of its own run for each one-change notice (goal at 4096:
// p99 < 50 ms) and its phases, idle CPU (v1.1 floor under 5 % of one core, with the periodic resync
// running) and RSS now and at its peak (goal under 128 MB at 4096). Prints tables and ends with one
// JSON line.
//   node --conditions=pgw-source --import tsx test/bench/reconcile.ts
import { readFileSync, statSync } from 'node:fs';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort, type PolicyClient } from '@pgw/domain';
import { renderDelta } from '../../services/agent/src/ruleset/render-delta.js';
import { renderRuleset } from '../../services/agent/src/ruleset/render-ruleset.js';
import { parseTableListing, verifyTable } from '../../services/agent/src/ruleset/verify-table.js';
import { AGENT_METRICS_PORT, createDataplane, type Dataplane } from '../e2e/dataplane-harness.js';
import { cpuTimesMs, machineLoad, memoryMiB, nodePid } from './ops-machine.js';
import { metricSamples } from '../support/prometheus-text.js';

/** PGW_BENCH_SIZES=4096 measures one size only (the goal's), in a third of the time. */
const SIZES = (process.env.PGW_BENCH_SIZES ?? '256,4096,16384').split(',').map(Number);
const REPEATS = 5;
/** proxy.status notices per size, each blocking then unblocking 16 clients: 2 one-change runs each. */
const NOTICES = 25;
/** The forwarder port window: 16384 ports below the namespace's ephemeral range (32768-60999). */
const FIRST_PORT = 10000;
const IDLE_WINDOW_MS = Number(process.env.PGW_BENCH_IDLE_MS ?? 20_000);
/** NODE_OPTIONS for the agent, e.g. `--import ./profiler.mjs` (--cpu-prof is not allowed there). */
const AGENT_NODE_OPTIONS = process.env.PGW_BENCH_AGENT_NODE_OPTIONS;
const RESYNC_MS = 1_000;

const clientIp = (i: number) => `10.0.${(i >> 8) & 255}.${i & 255}`;

function policyOf(count: number, blockedIndex = -1): GatewayPolicy {
  const clients: PolicyClient[] = Array.from({ length: count }, (_, i) => ({
    mappingId: i + 1,
    proxyId: 1,
    ip: parseIpv4(clientIp(i + 1)),
    port: parsePort(FIRST_PORT + i),
    blocked: i === blockedIndex ? 'proxy_down' : null,
  }));
  return {
    lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('10.0.0.0/16') },
    wan: { interface: parseInterfaceName('eth0') },
    dnsMode: 'drop',
    clients,
    strictOutput: null,
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 10) / 10;
}
const median = (values: number[]) => percentile(values, 50);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** Render + `nft -f -` (+ read-back and verify) times in the gateway namespace, as the agent does them. */
async function applyTimes(dp: Dataplane, count: number) {
  const nftIn = async (script: string) => {
    const r = await dp.lab.exec(dp.gw, ['nft', '-f', '-'], { input: script, reject: false });
    if (r.exitCode !== 0) throw new Error(`nft -f failed: ${r.stderr}`);
  };
  const base = renderRuleset(policyOf(count));
  const full: number[] = [];
  const delta: number[] = [];
  const verify: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    full.push(await timed(() => nftIn(renderRuleset(policyOf(count)).script)));
    const changed = renderRuleset(policyOf(count, i));
    delta.push(await timed(() => nftIn(renderDelta(base, changed)!)));
    verify.push(
      await timed(async () => {
        const listing = parseTableListing((await dp.nft('-j', 'list', 'table', 'inet', 'pgw')).stdout);
        const problems = verifyTable(changed, listing);
        if (problems.length > 0) throw new Error(problems.join('; '));
      }),
    );
    await nftIn(renderDelta(changed, base)!);
  }
  const renderMs = await timed(async () => renderRuleset(policyOf(count)));
  return { count, renderMs: Math.round(renderMs * 10) / 10, fullApplyMs: median(full), oneChangeApplyMs: median(delta), verifyMs: median(verify) };
}

/** Current and peak resident memory in MB, to 0.1. */
function memoryMb(pid: number): { rssMb: number; peakRssMb: number } {
  const { rss, peak } = memoryMiB(pid);
  return { rssMb: Math.round(rss * 10) / 10, peakRssMb: Math.round(peak * 10) / 10 };
}

/** CPU time of the live agent itself and of the nft/conntrack children it waited for, in ms. */
function agentCpu(pid: number): { own: number; children: number } {
  const times = cpuTimesMs(pid);
  if (times === null) throw new Error('the agent exited during the bench');
  return times;
}

/**
 * p50/p99 of each phase over the runs, and of `unphased`: the duration not in any phase. Phases
 * that overlap (verify, lan and conntrack run side by side) make it an upper bound of that rest.
 */
function phaseFigures(runs: { durationMs: number; phases?: Record<string, number> }[]): Record<string, { p50: number; p99: number }> {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.phases ?? {})))];
  const series: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, runs.map((r) => r.phases?.[name] ?? 0)]));
  series.unphased = runs.map((r) => Math.max(0, r.durationMs - Object.values(r.phases ?? {}).reduce((a, b) => a + b, 0)));
  return Object.fromEntries(Object.entries(series).map(([name, values]) => [name, { p50: median(values), p99: percentile(values, 99) }]));
}

/** Durations of the agent's state file writes logged since fromByte. */
function stateFileWrites(logFile: string, fromByte: number): number[] {
  return readFileSync(logFile)
    .subarray(fromByte)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.includes('"state file written"'))
    .map((l) => (JSON.parse(l) as { ms: number }).ms);
}

/** The agent's own log lines of runs that applied something for this trigger (JSON lines). */
function appliedRuns(logFile: string, fromByte: number, trigger: string): { durationMs: number; phases?: Record<string, number> }[] {
  return readFileSync(logFile)
    .subarray(fromByte)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.includes('"ruleset applied"') && l.includes(`"trigger":"${trigger}"`))
    .map((l) => JSON.parse(l) as { durationMs: number; phases?: Record<string, number> });
}

interface AgentFigures {
  mappings: number;
  startToAppliedMs: number;
  noticeToBlockedMs: number;
  /** The agent's own duration of the runs applying one proxy.status notice: p50 and p99. */
  oneChangeReconcileMs: number;
  oneChangeReconcileP99Ms: number;
  oneChangeRuns: number;
  /**
   * Per phase of those runs, as the agent logs them: p50 and p99 (a run without the phase counts
   * 0). `unphased` is the rest of the run's duration (the event loop busy elsewhere, GC, glue).
   */
  phasesMs: Record<string, { p50: number; p99: number }>;
  /** The state file writes after those runs (after the report, before the notice is acknowledged): p50, p99, count. */
  stateFileMs: { p50: number; p99: number; writes: number };
  idleCpuPercent: number;
  idleCpuWithChildrenPercent: number;
  rssMb: number;
  peakRssMb: number;
  /** V8 heap in use and external memory (Buffers, strings outside the heap), from the agent's /metrics. */
  heapUsedMb: number;
  externalMb: number;
}

async function heapMb(dp: Dataplane): Promise<{ heapUsedMb: number; externalMb: number }> {
  const text = (await dp.lab.exec(dp.gw, ['curl', '-sf', `http://127.0.0.1:${AGENT_METRICS_PORT}/metrics`])).stdout;
  const value = (name: string) => Math.round((metricSamples(text, name)[0]?.value ?? Number.NaN) / 104857.6) / 10;
  return { heapUsedMb: value('nodejs_heap_size_used_bytes'), externalMb: value('nodejs_external_memory_bytes') };
}

/** The real agent with `count` mappings (one proxy per 16 clients, so one notice blocks 16): timings, idle CPU, memory. */
async function measureAgent(dp: Dataplane, count: number, proxyIds: readonly number[]): Promise<AgentFigures> {
  const startAt = performance.now();
  const loadAtStart = machineLoad();
  dp.agent = await dp.gateway.start('agent', AGENT_NODE_OPTIONS ? { NODE_OPTIONS: AGENT_NODE_OPTIONS } : {});
  await dp.waitFor(`${count} mappings applied`, async () => (await dp.setElements('lan_mapped'))?.length === count, 60_000);
  const startToAppliedMs = Math.round(performance.now() - startAt);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const logFrom = statSync(dp.agent!.logFile).size;

  const noticeToBlocked: number[] = [];
  for (let i = 0; i < NOTICES; i++) {
    // Each notice downs another proxy of this count's clients (16 per proxy).
    const proxy = i % (count / 16);
    const proxyId = proxyIds[proxy]!;
    const blockedIp = clientIp(proxy * 16 + 1);
    const started = performance.now();
    await dp.setProxyStatus(proxyId, 'down');
    await dp.waitFor('16 clients blocked', async () => (await dp.setElements('lan_blocked'))?.includes(blockedIp) ?? false, 5_000);
    noticeToBlocked.push(performance.now() - started);
    await dp.setProxyStatus(proxyId, 'up');
    await dp.waitFor('unblocked', async () => !((await dp.setElements('lan_blocked'))?.includes(blockedIp) ?? true), 5_000);
  }
  const runs = appliedRuns(dp.agent!.logFile, logFrom, 'event:proxy.status');
  const phasesMs = phaseFigures(runs);
  const stateFile = stateFileWrites(dp.agent!.logFile, logFrom);

  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const pid = nodePid(dp.agent!.pid);
  const before = agentCpu(pid);
  await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
  const after = agentCpu(pid);
  const percent = (ms: number) => Math.round((ms / IDLE_WINDOW_MS) * 1000) / 10;
  const figures: AgentFigures = {
    mappings: count,
    startToAppliedMs,
    noticeToBlockedMs: median(noticeToBlocked),
    oneChangeReconcileMs: median(runs.map((r) => r.durationMs)),
    oneChangeReconcileP99Ms: percentile(runs.map((r) => r.durationMs), 99),
    oneChangeRuns: runs.length,
    phasesMs,
    stateFileMs: stateFile.length > 0 ? { p50: median(stateFile), p99: percentile(stateFile, 99), writes: stateFile.length } : { p50: 0, p99: 0, writes: 0 },
    idleCpuPercent: percent(after.own - before.own),
    idleCpuWithChildrenPercent: percent(after.own - before.own + after.children - before.children),
    ...memoryMb(pid),
    ...(await heapMb(dp)),
  };
  await dp.gateway.stop('agent');
  dp.agent = undefined;
  console.log(`# ${count} mappings measured (${loadAtStart} at its start, ${machineLoad()} at its end)`);
  return figures;
}

async function main(): Promise<void> {
  const dp = await createDataplane({ clients: 1, proxies: ['socks5'], resyncIntervalMs: RESYNC_MS });
  try {
    const results = [];
    for (const count of SIZES) results.push(await applyTimes(dp, count));
    await dp.nft('delete', 'table', 'inet', 'pgw');

    await dp.tdb.db.updateTable('settings').set({ lanCidr: '10.0.0.0/16', forwarderPortMin: FIRST_PORT, forwarderPortMax: FIRST_PORT + SIZES.at(-1)! - 1 }).where('id', '=', 1).execute();
    const proxyIds: number[] = [];
    for (let p = 0; p < SIZES.at(-1)! / 16; p++) proxyIds.push(await dp.addProxy(0, 'up'));
    const agents: AgentFigures[] = [];
    let inserted = 0;
    for (const count of SIZES) {
      const rows = Array.from({ length: count - inserted }, (_, k) => {
        const i = inserted + k;
        return { clientIp: clientIp(i + 1), proxyId: proxyIds[i >> 4]!, listenPort: FIRST_PORT + i, enabled: true, description: '' };
      });
      for (let i = 0; i < rows.length; i += 1000) await dp.tdb.db.insertInto('mappings').values(rows.slice(i, i + 1000)).execute();
      inserted = count;
      agents.push(await measureAgent(dp, count, proxyIds));
    }

    console.log('mappings | render | full apply (nft -f) | one-change apply (delta) | read-back+verify');
    for (const r of results) console.log(`${String(r.count).padStart(8)} | ${r.renderMs} ms | ${r.fullApplyMs} ms | ${r.oneChangeApplyMs} ms | ${r.verifyMs} ms`);
    console.log(`real agent (resync every ${RESYNC_MS} ms), ${NOTICES} proxy.status notices blocking 16 clients then ${NOTICES} unblocking them (one-change runs):`);
    console.log('mappings | start -> all applied | notice -> blocked (median) | agent run for one change p50 / p99 (runs) | idle CPU (own / with nft children) | RSS (peak) | V8 heap used, external');
    for (const a of agents) {
      console.log(
        `${String(a.mappings).padStart(8)} | ${a.startToAppliedMs} ms | ${a.noticeToBlockedMs} ms | ${a.oneChangeReconcileMs} / ${a.oneChangeReconcileP99Ms} ms (${a.oneChangeRuns}) | ${a.idleCpuPercent} % / ${a.idleCpuWithChildrenPercent} % over ${IDLE_WINDOW_MS / 1000} s | ${a.rssMb} MB (${a.peakRssMb} MB) | ${a.heapUsedMb} MB, ${a.externalMb} MB`,
      );
      console.log(`         phases of those runs, p50 / p99: ${Object.entries(a.phasesMs).map(([k, v]) => `${k} ${v.p50} / ${v.p99} ms`).join(', ')}`);
      console.log(`         state file after the run (before the ack), p50 / p99: ${a.stateFileMs.p50} / ${a.stateFileMs.p99} ms (${a.stateFileMs.writes} writes)`);
    }
    console.log(JSON.stringify({ bench: 'agent-reconcile', apply: results, resyncIntervalMs: RESYNC_MS, idleWindowMs: IDLE_WINDOW_MS, agents }));
  } finally {
    await dp.destroy();
  }
}

await main();
