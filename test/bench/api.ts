// API latency with 4096 mappings: the built api runs as its own process with its production node
// flags (as role pgw_api, a private Redis holding agent/forwarder status). autocannon sends
// GET /api/v1/mappings (default page of 100, with each row's effective state) and GET /api/v1/status
// at a fixed rate each (500 requests/s); then 100 consoles hold the SSE stream open and each
// proxy.status notice is timed from its XADD to its arrival at every console. The load generator
// (this process: autocannon and the consoles) runs at nice 10 once the api has started, below the api.
// Goal (issue 13.3): p99 <= 15 ms on both routes at >= 500 requests/s, 0 errors; every console gets a
// notice within 100 ms. Prints the figures and ends with one JSON line.
// Usage: node --conditions=pgw-source --import tsx test/bench/api.ts [--mappings 4096] [--seconds 15] [--rate 500] [--consoles 100] [--cpu-prof DIR] [--node-flags "..."]
// --cpu-prof DIR: the api runs with node --cpu-prof and writes its .cpuprofile into DIR on exit.
// Per route it also prints where the tail went: requests the api itself took long for (its latency
// histogram), GC pauses and event-loop delay (its default metrics), time it waited for a CPU (schedstat).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { setPriority } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AgentStatusRecord, connectRedis, EventBus, type ForwarderStatusRecord } from '@pgw/events';
import { writeNodeStatus } from '../support/node-status.js';
import { metricSamples, metricSum } from '../support/prometheus-text.js';
import { createLogger } from '@pgw/log';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { startRedis } from '../../lab/redis.js';
import type { LabProcess, RedisHandle } from '../../lab/types.js';
import { startApiProcess } from '../support/api-process.js';
import { cpuMs, loadAverage1m } from './ops-machine.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { REPO_ROOT } from '../support/gateway.js';

const { values: args } = parseArgs({
  options: {
    mappings: { type: 'string', default: '4096' }, seconds: { type: 'string', default: '15' }, rate: { type: 'string', default: '500' },
    consoles: { type: 'string', default: '100' }, 'cpu-prof': { type: 'string' }, 'node-flags': { type: 'string', default: '' },
  },
});
const MAPPINGS = Number(args.mappings);
const SECONDS = Number(args.seconds);
const RATE = Number(args.rate);
const CONSOLES = Number(args.consoles);
if (!Number.isInteger(MAPPINGS) || MAPPINGS < 1 || MAPPINGS > 8000) throw new Error(`--mappings must be 1..8000 (is ${args.mappings})`);
if (!Number.isInteger(SECONDS) || SECONDS < 3 || SECONDS > 120) throw new Error(`--seconds must be 3..120 (is ${args.seconds})`);
if (!Number.isInteger(RATE) || RATE < 10 || RATE > 5000) throw new Error(`--rate must be 10..5000 requests/s (is ${args.rate})`);
if (!Number.isInteger(CONSOLES) || CONSOLES < 1 || CONSOLES > 500) throw new Error(`--consoles must be 1..500 (is ${args.consoles})`);
/** Added after the production flags (the later one wins): for trying e.g. --max-semi-space-size=8. */
const NODE_FLAGS = args['node-flags']!.split(' ').filter(Boolean);
const GOAL_P99_MS = 15;
const GOAL_SSE_MS = 100;
/** Notices sent to the consoles, one every NOTICE_GAP_MS. */
const NOTICES = 20;
const NOTICE_GAP_MS = 250;
const PROXIES = 64;
const ADMIN = { username: 'bench', password: randomBytes(12).toString('hex') };


async function seed(database: TestDatabase): Promise<void> {
  // A /19 LAN holds 8190 clients; each mapping gets its own client and forwarder port.
  await database.db.updateTable('settings').set({ lanCidr: '10.20.0.0/19' }).where('id', '=', 1).execute();
  await sql`INSERT INTO proxies (name, protocol, host, port, status)
            SELECT 'proxy-' || i, CASE WHEN i % 2 = 0 THEN 'socks5' ELSE 'http' END, '198.51.100.' || (10 + i % 200), 1080,
                   CASE WHEN i % 8 = 0 THEN 'down' ELSE 'up' END
            FROM generate_series(1, ${PROXIES}) AS i`.execute(database.db);
  await sql`INSERT INTO mappings (client_ip, proxy_id, listen_port, enabled, description)
            SELECT ('10.20.0.0'::inet + i), 1 + (i % ${PROXIES}), 20000 + i, i % 16 <> 0, 'client ' || i
            FROM generate_series(1, ${MAPPINGS}) AS i`.execute(database.db);
}

async function agentStatus(redisPath: string): Promise<void> {
  const rows = Array.from({ length: MAPPINGS }, (_, i) => i + 1).filter((i) => i % 16 === 0 || (1 + (i % PROXIES)) % 8 === 0);
  const blocked = Object.fromEntries(rows.map((i) => [`10.20.${Math.floor(i / 256)}.${i % 256}`, i % 16 === 0 ? 'mapping_disabled' : 'proxy_down']));
  const redis = connectRedis(redisPath);
  const at = new Date(Date.now() + 5_000).toISOString();
  await writeNodeStatus(
    redis,
    {
      agent: { ok: true, at, durationMs: 12, appliedMappings: MAPPINGS, blocked, rejected: [], error: null } satisfies AgentStatusRecord,
      forwarder: { at, activeConnections: 1234, perMapping: {}, listeners: MAPPINGS } satisfies ForwarderStatusRecord,
    },
    undefined,
    600,
  );
  redis.disconnect();
}


/** CPU time the api has used, in ms: a figure the machine's other load does not inflate. */
function apiCpuMs(pid: number): number {
  const ms = cpuMs(pid);
  if (ms === null) throw new Error('the api exited during the bench');
  return ms;
}

/**
 * Instructions the api process retires (user and kernel), counted by `perf stat` when it is available:
 * unlike CPU time, this does not grow when other load on the machine slows every instruction down.
 */
function countInstructions(pid: number): { stop(): Promise<number | null> } {
  const perf = spawn('perf', ['stat', '-x', ',', '-e', 'instructions', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  perf.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    perf.once('error', () => resolve());
    perf.once('exit', () => resolve());
  });
  return {
    async stop() {
      perf.kill('SIGINT');
      const timer = setTimeout(() => perf.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
      const count = Number(/^(\d+),/m.exec(output)?.[1]);
      return Number.isFinite(count) && count > 0 ? count : null;
    },
  };
}

/** One console's SSE stream: when each proxy.status notice (numbered by its latencyMs field) arrived. */
interface Console {
  readonly arrivals: Map<number, number>;
  close(): void;
}

function openConsole(url: string, token: string): Promise<Console> {
  return new Promise((resolve, reject) => {
    const req = httpGet(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET /api/v1/events answered ${res.statusCode}`));
      res.setEncoding('utf8');
      const arrivals = new Map<number, number>();
      let buffer = '';
      res.on('data', (chunk: string) => {
        const now = performance.now();
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
          buffer = buffer.slice(end + 2);
          const event = data ? (JSON.parse(data) as { type: string; latencyMs: number }) : null;
          if (event?.type === 'proxy.status') arrivals.set(event.latencyMs, now);
        }
      });
      resolve({ arrivals, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

/**
 * CONSOLES open streams; NOTICES proxy.status notices published as the health service does (its
 * stream, XADD), each timed from just before the XADD to its arrival at each console.
 */
async function sseDelivery(url: string, token: string, redisUrl: string): Promise<{ delays: number[]; missing: number }> {
  const consoles = await Promise.all(Array.from({ length: CONSOLES }, () => openConsole(url, token)));
  const bus = new EventBus({ redisUrl, logger: createLogger('bench-api', 'warn') });
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // every stream's tail is waiting in XREAD
    const sentAt: number[] = [];
    for (let n = 0; n < NOTICES; n++) {
      sentAt.push(performance.now());
      await bus.publish({ type: 'proxy.status', proxyId: 1, status: n % 2 ? 'up' : 'down', previous: n % 2 ? 'down' : 'up', latencyMs: n, exitIp: null, error: null });
      await new Promise((resolve) => setTimeout(resolve, NOTICE_GAP_MS));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const delays: number[] = [];
    let missing = 0;
    for (const viewer of consoles) {
      for (let n = 0; n < NOTICES; n++) {
        const at = viewer.arrivals.get(n);
        if (at === undefined) missing++;
        else delays.push(at - sentAt[n]!);
      }
    }
    return { delays: delays.sort((a, b) => a - b), missing };
  } finally {
    for (const viewer of consoles) viewer.close();
    await bus.close();
  }
}

const percentile = (sorted: readonly number[], p: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN) * 10) / 10;

/** What the api went through during a run, from its own metrics and the kernel: where a slow request's time went. */
interface Sample {
  /** GC pauses by kind (minor, major, incremental, weakcb): count and total seconds. */
  gc: Map<string, { count: number; seconds: number }>;
  /** Server-side latency histogram of the route: upper bound in seconds -> requests at or below it. */
  buckets: Map<number, number>;
  /** Event-loop delay since the previous scrape (prom-client resets it at each scrape), seconds. */
  lagP99: number;
  lagMax: number;
  /** Time the api's threads waited on a run queue for a CPU (schedstat), ns. */
  runQueueNs: number;
}

async function sample(metricsUrl: string, pid: number, route: string): Promise<Sample> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const gc = new Map<string, { count: number; seconds: number }>();
  for (const { labels, value } of metricSamples(text, 'nodejs_gc_duration_seconds_sum')) gc.set(labels.kind!, { count: 0, ...gc.get(labels.kind!), seconds: value });
  for (const { labels, value } of metricSamples(text, 'nodejs_gc_duration_seconds_count')) gc.set(labels.kind!, { seconds: 0, ...gc.get(labels.kind!), count: value });
  const buckets = new Map<number, number>();
  for (const { labels, value } of metricSamples(text, 'pgw_api_http_request_duration_seconds_bucket')) {
    if (labels.route === route && labels.method === 'GET' && labels.status === '200') buckets.set(labels.le === '+Inf' ? Infinity : Number(labels.le), value);
  }
  const lagP99 = metricSum(text, 'nodejs_eventloop_lag_p99_seconds');
  const lagMax = metricSum(text, 'nodejs_eventloop_lag_max_seconds');
  let runQueueNs = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) runQueueNs += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[1]);
  return { gc, buckets, lagP99, lagMax, runQueueNs };
}

/** The tail, split: requests the api itself took over 10 or 20 ms for, GC, event-loop delay, waiting for a CPU. */
function tail(before: Sample, after: Sample, seconds: number) {
  const served = (le: number) => (after.buckets.get(le) ?? 0) - (before.buckets.get(le) ?? 0);
  const total = served(Infinity);
  const gc = (kind: string) => {
    const a = after.gc.get(kind) ?? { count: 0, seconds: 0 };
    const b = before.gc.get(kind) ?? { count: 0, seconds: 0 };
    return { count: a.count - b.count, ms: Math.round((a.seconds - b.seconds) * 1000) };
  };
  const bounds = [...after.buckets.keys()].sort((a, b) => a - b);
  const p99Bound = bounds.find((le) => served(le) >= total * 0.99) ?? Infinity;
  return {
    /** The api's own p99 (the latency histogram's bucket it falls in: at most this many ms). */
    serverP99AtMostMs: p99Bound * 1000,
    serverOver10Ms: total - served(0.01),
    serverOver20Ms: total - served(0.02),
    gcMinor: gc('minor'),
    gcMajor: gc('major'),
    gcIncremental: gc('incremental'),
    loopDelayP99Ms: Math.round(after.lagP99 * 10_000) / 10,
    loopDelayMaxMs: Math.round(after.lagMax * 10_000) / 10,
    runQueueMsPerSecond: Math.round((after.runQueueNs - before.runQueueNs) / 1e6 / seconds),
  };
}

function run(url: string, path: string, token: string): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `${url}${path}`, connections: 10, overallRate: RATE, duration: SECONDS, headers: { authorization: `Bearer ${token}` } },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

const dir = mkdtempSync(join(tmpdir(), 'pgw-bench-api-'));
let database: TestDatabase | undefined;
let redis: RedisHandle | undefined;
let api: LabProcess | undefined;
try {
  database = await createTestDatabase({ prefix: 'pgw_bench_api' });
  redis = await startRedis({ dir });
  await seed(database);
  await agentStatus(redis.adminUrl);
  const profile = args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof']] : [];
  // The built api with its production node flags: what ships is what is measured.
  execFileSync('npx', ['tsc', '-b', join(REPO_ROOT, 'services/api')], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 180_000 });
  const started = await startApiProcess({ database, redisUrl: redis.url('api'), dir, admin: ADMIN, logLevel: 'warn', nodeArgs: [...profile, ...NODE_FLAGS] });
  api = started.proc;
  const { url } = started;
  const login = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
  const { token } = (await login.json()) as { token: string };
  const page = (await (await fetch(`${url}/api/v1/mappings`, { headers: { authorization: `Bearer ${token}` } })).json()) as { total: number; items: unknown[] };
  if (page.total !== MAPPINGS) throw new Error(`expected ${MAPPINGS} mappings, the api reports ${page.total}`);
  // From here on this process is the load generator: below the api (and Postgres, Redis) in CPU priority.
  setPriority(10);
  const figures: Record<string, { p50: number; p99: number; max: number; requests: number; non2xx: number; errors: number; cpuMsPerRequest: number; kInstructionsPerRequest: number | null; tail: ReturnType<typeof tail> }> = {};
  for (const [name, path] of [['mappings', '/api/v1/mappings'], ['status', '/api/v1/status']] as const) {
    await run(url, path, token).then(() => undefined, () => undefined); // warm-up is the first second of a short run
    const instructions = countInstructions(api.pid!);
    const cpuBefore = apiCpuMs(api.pid!);
    const sampled = await sample(started.metricsUrl, api.pid!, path);
    const result = await run(url, path, token);
    const split = tail(sampled, await sample(started.metricsUrl, api.pid!, path), SECONDS);
    const cpuMsPerRequest = Math.round(((apiCpuMs(api.pid!) - cpuBefore) / result.requests.total) * 100) / 100;
    const counted = await instructions.stop();
    const kInstructionsPerRequest = counted === null ? null : Math.round(counted / result.requests.total / 1000);
    figures[name] = { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, requests: result.requests.total, non2xx: result.non2xx, errors: result.errors, cpuMsPerRequest, kInstructionsPerRequest, tail: split };
    console.log(
      `GET ${path}: p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms over ${result.requests.total} requests (target ${RATE}/s; ${result.non2xx} non-2xx, ${result.errors} errors), api CPU ${cpuMsPerRequest} ms/request, ${kInstructionsPerRequest ?? '?'} k instructions/request`,
    );
    console.log(
      `  tail: the api's own p99 <= ${split.serverP99AtMostMs} ms; it took over 10 ms for ${split.serverOver10Ms} requests, over 20 ms for ${split.serverOver20Ms}; GC minor ${split.gcMinor.count} (${split.gcMinor.ms} ms), ` +
        `major ${split.gcMajor.count} (${split.gcMajor.ms} ms), incremental ${split.gcIncremental.count} (${split.gcIncremental.ms} ms); event-loop delay p99 ${split.loopDelayP99Ms} ms, ` +
        `max ${split.loopDelayMaxMs} ms; the api waited ${split.runQueueMsPerSecond} ms per second for a CPU`,
    );
  }
  const sse = await sseDelivery(url, token, redis.adminUrl);
  const sseP50Ms = percentile(sse.delays, 50);
  const sseP99Ms = percentile(sse.delays, 99);
  const sseMaxMs = percentile(sse.delays, 100);
  console.log(`SSE: ${NOTICES} notices to ${CONSOLES} consoles: XADD -> console p50 ${sseP50Ms} ms, p99 ${sseP99Ms} ms, max ${sseMaxMs} ms, ${sse.missing} not received (goal: all within ${GOAL_SSE_MS} ms)`);
  const routesPass = Object.values(figures).every((f) => f.p99 <= GOAL_P99_MS && f.non2xx === 0 && f.errors === 0 && f.requests >= RATE * SECONDS * 0.98);
  const ssePass = sse.missing === 0 && sseMaxMs <= GOAL_SSE_MS;
  console.log(JSON.stringify({
    bench: 'api', mappings: MAPPINGS, ratePerSecond: RATE, seconds: SECONDS,
    mappingsP50Ms: figures.mappings!.p50, mappingsP99Ms: figures.mappings!.p99, mappingsMaxMs: figures.mappings!.max,
    statusP50Ms: figures.status!.p50, statusP99Ms: figures.status!.p99, statusMaxMs: figures.status!.max,
    errors: figures.mappings!.errors + figures.mappings!.non2xx + figures.status!.errors + figures.status!.non2xx,
    mappingsCpuMsPerRequest: figures.mappings!.cpuMsPerRequest, statusCpuMsPerRequest: figures.status!.cpuMsPerRequest,
    mappingsKInstructionsPerRequest: figures.mappings!.kInstructionsPerRequest, statusKInstructionsPerRequest: figures.status!.kInstructionsPerRequest,
    mappingsTail: figures.mappings!.tail, statusTail: figures.status!.tail,
    consoles: CONSOLES, sseP50Ms, sseP99Ms, sseMaxMs, sseMissing: sse.missing,
    loadAverage1m: loadAverage1m(), goalP99Ms: GOAL_P99_MS, goalSseMs: GOAL_SSE_MS, pass: routesPass && ssePass,
  }));
} finally {
  await api?.stop();
  await redis?.stop();
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
}
