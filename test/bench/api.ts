// API latency with 4096 mappings: the api runs as its own process (from source through tsx, as role
// pgw_api, a private Redis holding agent/forwarder status), autocannon sends GET /api/v1/mappings
// (default page of 100, with each row's effective state) and GET /api/v1/status at a fixed 200
// requests/s each. Prints p50/p99 per route and ends with one JSON line. Goal: p99 < 20 ms.
// Usage: node --conditions=pgw-source --import tsx test/bench/api.ts [--mappings 4096] [--seconds 15] [--cpu-prof DIR]
// --cpu-prof DIR: the api runs with node --cpu-prof and writes its .cpuprofile into DIR on exit.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_STATUS_KEY, type AgentStatusRecord, connectRedis, FORWARDER_STATUS_KEY, type ForwarderStatusRecord } from '@pgw/events';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { startRedis } from '../lab/redis.js';
import type { LabProcess, RedisHandle } from '../lab/types.js';
import { startApiProcess } from '../support/api-process.js';
import { cpuMs, loadAverage1m } from './ops-machine.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { REPO_ROOT } from '../support/gateway.js';

const { values: args } = parseArgs({ options: { mappings: { type: 'string', default: '4096' }, seconds: { type: 'string', default: '15' }, 'cpu-prof': { type: 'string' } } });
const MAPPINGS = Number(args.mappings);
const SECONDS = Number(args.seconds);
if (!Number.isInteger(MAPPINGS) || MAPPINGS < 1 || MAPPINGS > 8000) throw new Error(`--mappings must be 1..8000 (is ${args.mappings})`);
if (!Number.isInteger(SECONDS) || SECONDS < 3 || SECONDS > 120) throw new Error(`--seconds must be 3..120 (is ${args.seconds})`);
const RATE = 200;
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
  await redis.set(AGENT_STATUS_KEY, JSON.stringify({ ok: true, at, durationMs: 12, appliedMappings: MAPPINGS, blocked, rejected: [], error: null } satisfies AgentStatusRecord), 'EX', 600);
  await redis.set(FORWARDER_STATUS_KEY, JSON.stringify({ at, activeConnections: 1234, perMapping: {}, listeners: MAPPINGS } satisfies ForwarderStatusRecord), 'EX', 600);
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
  const started = await startApiProcess({ database, redisUrl: redis.url('api'), dir, admin: ADMIN, logLevel: 'warn', nodeArgs: profile });
  api = started.proc;
  const { url } = started;
  const login = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
  const { token } = (await login.json()) as { token: string };
  const page = (await (await fetch(`${url}/api/v1/mappings`, { headers: { authorization: `Bearer ${token}` } })).json()) as { total: number; items: unknown[] };
  if (page.total !== MAPPINGS) throw new Error(`expected ${MAPPINGS} mappings, the api reports ${page.total}`);
  const figures: Record<string, { p50: number; p99: number; max: number; requests: number; non2xx: number; errors: number; cpuMsPerRequest: number; kInstructionsPerRequest: number | null }> = {};
  for (const [name, path] of [['mappings', '/api/v1/mappings'], ['status', '/api/v1/status']] as const) {
    await run(url, path, token).then(() => undefined, () => undefined); // warm-up is the first second of a short run
    const instructions = countInstructions(api.pid!);
    const cpuBefore = apiCpuMs(api.pid!);
    const result = await run(url, path, token);
    const cpuMsPerRequest = Math.round(((apiCpuMs(api.pid!) - cpuBefore) / result.requests.total) * 100) / 100;
    const counted = await instructions.stop();
    const kInstructionsPerRequest = counted === null ? null : Math.round(counted / result.requests.total / 1000);
    figures[name] = { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, requests: result.requests.total, non2xx: result.non2xx, errors: result.errors, cpuMsPerRequest, kInstructionsPerRequest };
    console.log(
      `GET ${path}: p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms over ${result.requests.total} requests (target ${RATE}/s; ${result.non2xx} non-2xx, ${result.errors} errors), api CPU ${cpuMsPerRequest} ms/request, ${kInstructionsPerRequest ?? '?'} k instructions/request`,
    );
  }
  const pass = Object.values(figures).every((f) => f.p99 < 20 && f.non2xx === 0 && f.errors === 0);
  console.log(JSON.stringify({ bench: 'api', mappings: MAPPINGS, ratePerSecond: RATE, seconds: SECONDS, mappingsP50Ms: figures.mappings!.p50, mappingsP99Ms: figures.mappings!.p99, statusP50Ms: figures.status!.p50, statusP99Ms: figures.status!.p99, mappingsCpuMsPerRequest: figures.mappings!.cpuMsPerRequest, statusCpuMsPerRequest: figures.status!.cpuMsPerRequest, mappingsKInstructionsPerRequest: figures.mappings!.kInstructionsPerRequest, statusKInstructionsPerRequest: figures.status!.kInstructionsPerRequest, loadAverage1m: loadAverage1m(), goalP99Ms: 20, pass }));
} finally {
  await api?.stop();
  await redis?.stop();
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
}
