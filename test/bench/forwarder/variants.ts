/**
 * A/B runs of the forwarder through dante (SOCKS5; --proxy http: tinyproxy): the same lab, the forwarder restarted per
 * variant (its own environment; the pseudo-variable NODE_FLAGS="--flag --flag" goes on node's command
 * line, for V8 flags NODE_OPTIONS refuses), variants alternating in each
 * round (ABBA...) so machine load hits them alike; medians per variant. With --profile the first
 * variant runs once more under the V8 CPU profiler during an iperf3 run and the self time is summarised.
 * With --strace each variant runs once more under `strace -c -f` over 1000 sequential connections
 * and its system calls per connection are printed (where a connection's kernel time goes).
 *
 *   node --conditions=pgw-source --import tsx test/bench/forwarder/variants.ts \
 *     [--rounds 4] [--proxy socks5|http] [--profile | --profile-connections] [--strace] [name=ENV=value,ENV=value ...]
 *     (default: one variant, "base")
 *
 * Each variant's line gives its CPU per sequential try and, in brackets, the part the forwarder's
 * garbage collector took, and how long its warm opens took (its own metrics).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab } from '../../../lab/index.js';
import { createTestDatabase } from '../../support/database.js';
import { Gateway, REPO_ROOT, SERVICE_SPECS } from '../../support/gateway.js';
import { metricSamples } from '../../support/prometheus-text.js';
import { cpuMs, rssMiB, threadCpuMs } from '../ops-machine.js';
import { BENCH_AGENT_ENV } from './bench-agent-env.js';
import { FORWARDER_WARMUP } from './jit-warmup.js';
import { waitEffective } from './intercept-mode.js';
import { LanClient } from './lan-client-handle.js';
import { inclusiveProfile, summariseProfile } from './profile-summary.js';
import { summarize } from './stats.js';

const CLIENT = '192.168.2.10';
const PORT = 20010;
const SEQUENTIAL = 300;
/** Connections at 10 at once per trial (bench:forwarder's concurrency goal): the same GET. */
const CONCURRENT = 300;
const IPERF_SECONDS = 4;
/** --profile-connections: enough connections that their path outweighs the start-up in the profile. */
const PROFILED_CONNECTIONS = 2_000;
/** --cpu-prof is not allowed in NODE_OPTIONS; this preload does the same through node:inspector. */
const PROFILE_PRELOAD = fileURLToPath(new URL('./cpu-profile-preload.cjs', import.meta.url));
/** --strace: connections counted under strace (after 100 untraced, which fill the warm pool). */
const STRACED_CONNECTIONS = 1_000;

interface Variant {
  name: string;
  env: Record<string, string>;
  /** From the pseudo-variable NODE_FLAGS (space-separated): node's command line, where V8 flags go (NODE_OPTIONS refuses most). */
  nodeFlags: string[];
}

interface Trial {
  p50: number;
  p95: number;
  /** p50 of the connections made 10 at once. */
  conc: number;
  /** The forwarder's CPU time per sequential try (user + system, all threads), ms: steadier than p50 on a loaded machine. */
  cpu: number;
  /** The forwarder's garbage collection per sequential try (every kind, its own metrics), ms. */
  gc: number;
  /** How long the forwarder's warm opens took after the sequential tries (its smoothed metric), ms; null: none opened. */
  warmSetupMs: number | null;
  gbps: number;
  rss: number;
  /** RSS before the iperf3 run (after the latency tries). */
  rssBefore: number;
  /** After iperf3: anonymous memory (V8 heap, malloc) vs pages of the node binary and libraries. */
  anon: number;
  file: number;
}

/** RssAnon and RssFile of a process, MiB. */
function rssParts(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) / 1024;
  return { anon: kib('RssAnon'), file: kib('RssFile') };
}

type ProfileRun = 'iperf' | 'connections' | null;

function parseArgs(argv: string[]): { rounds: number; proxy: 'socks5' | 'http'; profile: ProfileRun; strace: boolean; variants: Variant[] } {
  let rounds = 4;
  let proxy: 'socks5' | 'http' = 'socks5';
  let profile: ProfileRun = null;
  let strace = false;
  const variants: Variant[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--rounds') rounds = Number(argv[++i]);
    else if (arg === '--proxy') {
      const kind = argv[++i];
      if (kind !== 'socks5' && kind !== 'http') throw new Error('--proxy must be socks5 or http');
      proxy = kind;
    }
    else if (arg === '--profile') profile = 'iperf';
    else if (arg === '--profile-connections') profile = 'connections';
    else if (arg === '--strace') strace = true;
    else {
      const at = arg.indexOf('=');
      const name = at === -1 ? arg : arg.slice(0, at);
      const env: Record<string, string> = {};
      if (at !== -1) {
        for (const pair of arg.slice(at + 1).split(',')) {
          const eq = pair.indexOf('=');
          if (eq < 1) throw new Error(`variant ${name}: "${pair}" is not ENV=value`);
          env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
      }
      const nodeFlags = env.NODE_FLAGS?.split(' ').filter((flag) => flag !== '') ?? [];
      delete env.NODE_FLAGS;
      variants.push({ name, env, nodeFlags });
    }
  }
  if (!(rounds >= 1 && rounds <= 20)) throw new Error('--rounds must be 1-20');
  return { rounds, proxy, profile, strace, variants: variants.length > 0 ? variants : [{ name: 'base', env: {}, nodeFlags: [] }] };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** A warm open's duration as the round and medians lines print it. */
/** Each thread's CPU per try between two readings ("node 120 + 80, pgw-reactor 10 + 40"), busiest first; threads that used none left out. */
function threadCpuText(before: ReturnType<typeof threadCpuMs>, after: ReturnType<typeof threadCpuMs>, tries: number): string {
  const used = [...after].map(([name, t]) => {
    const b = before.get(name) ?? { user: 0, system: 0 };
    return { name, user: ((t.user - b.user) * 1000) / tries, system: ((t.system - b.system) * 1000) / tries };
  });
  return used
    .filter((t) => t.user + t.system > 0)
    .sort((a, b) => b.user + b.system - (a.user + a.system))
    .map((t) => `${t.name} ${t.user.toFixed(0)} + ${t.system.toFixed(0)}`)
    .join(', ');
}

function warmOpenText(ms: number | null): string {
  return ms === null ? 'none' : `${ms.toFixed(3)} ms`;
}

async function main(): Promise<void> {
  const { rounds, proxy, profile, strace, variants } = parseArgs(process.argv.slice(2));
  execFileSync('npx', ['tsc', '-b', 'services/forwarder', 'services/agent'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 240_000 });
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    const lab = await createLab({ clients: 1, proxies: [proxy] });
    cleanups.push(() => lab.destroy());
    const tdb = await createTestDatabase({ prefix: 'pgw_bench_fwab' });
    cleanups.push(() => tdb.drop());
    const lan = new LanClient(lab.ns.lan);
    cleanups.push(() => lan.close());
    await lan.ready;
    const gateway = new Gateway(lab, tdb);
    cleanups.push(() => gateway.destroy());
    const upstreamProxy = lab.proxies[0]!;
    await gateway.seedMapping(CLIENT, await gateway.seedProxy(upstreamProxy, { status: 'up' }), PORT);
    await gateway.start('agent', BENCH_AGENT_ENV);
    const { ip, httpPort, iperfPort } = lab.description.internet;
    const request = `GET /ip HTTP/1.1\r\nHost: ${ip}\r\nConnection: close\r\n\r\n`;
    const iperf = async (): Promise<number> => {
      const run = await lab.exec(lab.ns.lan, ['iperf3', '-c', ip, '-p', String(iperfPort), '-B', CLIENT, '-t', String(IPERF_SECONDS), '-J'], { timeoutMs: (IPERF_SECONDS + 20) * 1000 });
      return (JSON.parse(run.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
    };
    // The forwarder's own metrics, read in the gateway namespace it listens in: its GC total
    // (prom-client's default metrics) and how long its warm opens take (null: none opened).
    const forwarderMetrics = async (): Promise<{ gcSeconds: number; warmSetupMs: number | null }> => {
      const scrape = await lab.exec(gateway.ns, ['curl', '-sf', '--max-time', '2', `http://127.0.0.1:${SERVICE_SPECS.forwarder.metricsPort}/metrics`]);
      const setup = metricSamples(scrape.stdout, 'pgw_forwarder_warm_setup_seconds')[0];
      return {
        gcSeconds: metricSamples(scrape.stdout, 'nodejs_gc_duration_seconds_sum').reduce((sum, sample) => sum + sample.value, 0),
        warmSetupMs: setup === undefined ? null : setup.value * 1000,
      };
    };
    const trials = new Map<string, Trial[]>(variants.map((v) => [v.name, []]));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const proc = await gateway.start('forwarder', variant.env, variant.nodeFlags);
        await waitEffective(lab, [[CLIENT, upstreamProxy]]);
        const target = { src: CLIENT, host: ip, port: httpPort, request, timeoutMs: 5_000 };
        // Each variant's forwarder is new: its path compiled before it is timed (jit-warmup.ts).
        await lan.run({ op: 'latency', ...target, count: FORWARDER_WARMUP, concurrency: 1 }, 120_000);
        const cpuBefore = cpuMs(proc.pid);
        const threadsBefore = threadCpuMs(proc.pid);
        const gcBefore = (await forwarderMetrics()).gcSeconds;
        const seq = await lan.run({ op: 'latency', ...target, count: SEQUENTIAL, concurrency: 1 }, 120_000);
        const cpu = ((cpuMs(proc.pid) ?? Number.NaN) - (cpuBefore ?? Number.NaN)) / SEQUENTIAL;
        const threads = threadCpuText(threadsBefore, threadCpuMs(proc.pid), SEQUENTIAL);
        const after = await forwarderMetrics();
        const gc = (after.gcSeconds - gcBefore) * 1000 / SEQUENTIAL;
        const concurrent = await lan.run({ op: 'latency', ...target, count: CONCURRENT, concurrency: 10 }, 120_000);
        const conc = summarize(concurrent.samples ?? []).p50;
        const rssBefore = rssMiB(proc.pid);
        const gbps = await iperf();
        const { p50, p95 } = summarize(seq.samples ?? []);
        const trial: Trial = { p50, p95, conc, cpu, gc, warmSetupMs: after.warmSetupMs, gbps, rss: rssMiB(proc.pid), rssBefore, ...rssParts(proc.pid) };
        trials.get(variant.name)!.push(trial);
        process.stderr.write(
          `round ${round + 1} ${variant.name}: p50 ${p50} p95 ${p95} ms, conc(10) p50 ${conc} ms, CPU ${cpu.toFixed(3)} ms/try (GC ${gc.toFixed(3)}), ` +
            `warm open ${warmOpenText(after.warmSetupMs)}, ${gbps.toFixed(2)} Gbit/s, RSS ${rssBefore.toFixed(1)} -> ${trial.rss.toFixed(1)} MiB ` +
            `(anon ${trial.anon.toFixed(1)}, file ${trial.file.toFixed(1)}) (load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})\n` +
            `  CPU µs/try by thread, user + system: ${threads}\n`,
        );
        await gateway.stop('forwarder');
      }
    }
    const result = variants.map((v) => {
      const t = trials.get(v.name)!;
      const setups = t.flatMap((x) => (x.warmSetupMs === null ? [] : [x.warmSetupMs]));
      const warmSetupMs = setups.length === 0 ? null : Number(median(setups).toFixed(3));
      return { variant: v.name, env: v.env, p50: median(t.map((x) => x.p50)), p95: median(t.map((x) => x.p95)), concP50: median(t.map((x) => x.conc)), cpuMsPerTry: Number(median(t.map((x) => x.cpu)).toFixed(3)), gcMsPerTry: Number(median(t.map((x) => x.gc)).toFixed(3)), warmSetupMs, gbps: Number(median(t.map((x) => x.gbps)).toFixed(2)), rssMiB: Number(median(t.map((x) => x.rss)).toFixed(1)), rssBeforeMiB: Number(median(t.map((x) => x.rssBefore)).toFixed(1)), anonMiB: Number(median(t.map((x) => x.anon)).toFixed(1)), fileMiB: Number(median(t.map((x) => x.file)).toFixed(1)) };
    });
    console.log(`\nmedians over ${rounds} alternating rounds (${SEQUENTIAL} sequential connect+GET, ${CONCURRENT} 10 at once, iperf3 ${IPERF_SECONDS} s, RSS after iperf3):`);
    for (const r of result) console.log(`${r.variant.padEnd(16)} p50 ${r.p50.toFixed(2)} ms  p95 ${r.p95.toFixed(2)} ms  conc(10) p50 ${r.concP50.toFixed(2)} ms  CPU ${r.cpuMsPerTry.toFixed(3)} ms/try (GC ${r.gcMsPerTry.toFixed(3)})  warm open ${warmOpenText(r.warmSetupMs)}  ${r.gbps.toFixed(2)} Gbit/s  RSS ${r.rssBeforeMiB.toFixed(1)} -> ${r.rssMiB.toFixed(1)} MiB (anon ${r.anonMiB.toFixed(1)}, file ${r.fileMiB.toFixed(1)})`);

    if (profile !== null) {
      // The forwarder runs as uid pgw, which cannot enter the lab's directory.
      const dir = mkdtempSync(join(tmpdir(), 'pgw-fw-cpu-prof-'));
      chmodSync(dir, 0o777);
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const first = variants[0]!;
      const file = join(dir, 'forwarder.cpuprofile');
      const nodeOptions = `${first.env.NODE_OPTIONS ?? ''} --require ${PROFILE_PRELOAD}`.trim();
      await gateway.start('forwarder', { ...first.env, NODE_OPTIONS: nodeOptions, PGW_BENCH_CPU_PROFILE: file }, first.nodeFlags);
      await waitEffective(lab, [[CLIENT, upstreamProxy]]);
      let what: string;
      if (profile === 'iperf') what = `one iperf3 run (${(await iperf()).toFixed(2)} Gbit/s under the profiler)`;
      else {
        const target = { src: CLIENT, host: ip, port: httpPort, request, timeoutMs: 5_000 };
        await lan.run({ op: 'latency', ...target, count: PROFILED_CONNECTIONS, concurrency: 1 }, 240_000);
        what = `${PROFILED_CONNECTIONS} sequential connections`;
      }
      await gateway.stop('forwarder');
      if (!existsSync(file)) throw new Error(`the forwarder wrote no profile to ${file}`);
      console.log(`\nself time of ${first.name} during ${what}, whole process life:`);
      for (const line of summariseProfile(file, 40)) console.log(line);
      console.log('\ntotal time (self + callees):');
      for (const line of inclusiveProfile(file, 50)) console.log(line);
    }
    const syscalls: Record<string, Record<string, number>> = {};
    if (strace) {
      for (const variant of variants) {
        const proc = await gateway.start('forwarder', variant.env, variant.nodeFlags);
        await waitEffective(lab, [[CLIENT, upstreamProxy]]);
        const target = { src: CLIENT, host: ip, port: httpPort, request, timeoutMs: 5_000 };
        await lan.run({ op: 'latency', ...target, count: 100, concurrency: 1 });
        syscalls[variant.name] = await straceCalls(proc.pid, STRACED_CONNECTIONS, () => lan.run({ op: 'latency', ...target, count: STRACED_CONNECTIONS, concurrency: 1 }, 240_000));
        await gateway.stop('forwarder');
        const perConnection = syscalls[variant.name]!;
        const total = Object.values(perConnection).reduce((a, b) => a + b, 0);
        console.log(`\n${variant.name}: ${total.toFixed(1)} system calls per connection (strace -c -f over ${STRACED_CONNECTIONS} sequential connections):`);
        for (const [name, calls] of Object.entries(perConnection)) console.log(`  ${name.padEnd(18)} ${calls.toFixed(2)}`);
      }
    }
    console.log(JSON.stringify({ bench: 'forwarder-variants', at: new Date().toISOString(), rounds, result, ...(strace ? { syscallsPerConnection: syscalls } : {}) }));
  } catch (error) {
    const log = /see (\S+\.log)/.exec((error as Error).message)?.[1];
    if (log !== undefined && existsSync(log)) process.stderr.write(`${log}:\n${readFileSync(log, 'utf8').slice(-3000)}\n`);
    throw error;
  } finally {
    for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch((error: Error) => process.stderr.write(`cleanup: ${error.message}\n`));
  }
}

/**
 * System calls of process `pid` (all threads) per connection while `run` makes `connections`
 * connections, from `strace -c -f` (its summary table; calls that ran at least once per 20
 * connections), most frequent first.
 */
async function straceCalls(pid: number, connections: number, run: () => Promise<unknown>): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-fw-strace-'));
  const out = join(dir, 'summary');
  const tracer = spawn('strace', ['-c', '-f', '-o', out, '-p', String(pid)], { stdio: 'ignore' });
  try {
    // strace attaches to every thread before it counts; a connection made before that is not counted whole.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await run();
  } finally {
    tracer.kill('SIGINT');
    await new Promise((resolve) => tracer.once('exit', resolve));
  }
  const perConnection: Record<string, number> = {};
  // "% time  seconds  usecs/call  calls  [errors]  syscall"
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    const name = fields.at(-1)!;
    const calls = Number(fields[3]);
    if (fields.length < 5 || !/^[a-z_0-9]+$/.test(name) || name === 'total' || !Number.isFinite(calls)) continue;
    if (calls * 20 >= connections) perConnection[name] = Number((calls / connections).toFixed(2));
  }
  rmSync(dir, { recursive: true, force: true });
  return Object.fromEntries(Object.entries(perConnection).sort((a, b) => b[1] - a[1]));
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(`forwarder variants failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
