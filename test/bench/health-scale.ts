// 256 proxies probed by the health service (run from dist as its own process, Postgres role
// pgw_health) within one period with no bunching. The few real proxy processes (dante and
// tinyproxy on loopback addresses) each back many proxy rows. Prints the per-second spread of
// the probes, the first-probe burst of never-checked proxies, health CPU and RSS, and ends
// with one JSON line. Usage: node --conditions=pgw-source --import tsx test/bench/health-scale.ts
//   [--proxies 256] [--periods 30,10] (seconds; a shorter second period shows the same spread at 3x the rate)
//   [--node-flags="--cpu-prof --cpu-prof-dir=/tmp/x"] (extra node flags for the health process, to profile or compare V8 settings)
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBus } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { maxInWindow } from '../../services/health/src/scheduling/spread.js';
import { spawnProcess } from '../../lab/process.js';
import { startDante, startTinyproxy } from '../../lab/proxies.js';
import { startRedis } from '../../lab/redis.js';
import type { LabProcess, ProxyHandle, RedisHandle } from '../../lab/types.js';
import { serviceEntry } from '../../lab/services.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { metricSamples } from '../support/prometheus-text.js';
import { cpuMs, rssMiB } from './ops-machine.js';

const { values: args } = parseArgs({ options: { proxies: { type: 'string', default: '256' }, periods: { type: 'string', default: '30,10' }, 'node-flags': { type: 'string', default: '' } } });
const PROXIES = Number(args.proxies);
const PERIODS_S = args.periods.split(',').map(Number);
if (!Number.isInteger(PROXIES) || PROXIES < 1 || PROXIES > 5000) throw new Error(`--proxies must be 1..5000 (is ${args.proxies})`);
const NODE_FLAGS = args['node-flags'].split(' ').filter((f) => f !== '');
if (NODE_FLAGS.some((f) => !f.startsWith('--'))) throw new Error(`--node-flags must be node options starting with -- (is ${args['node-flags']})`);
if (PERIODS_S.some((p) => !Number.isInteger(p) || p < 5 || p > 120)) throw new Error(`--periods must be seconds in 5..120 (is ${args.periods})`);
const SUBNET = `127.63.${randomInt(1, 250)}`;
const ROOT = new URL('../../', import.meta.url).pathname;

function echoServer(ip: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ip: req.socket.remoteAddress })));
  return new Promise((resolve, reject) => server.once('error', reject).listen(0, ip, () => resolve({ server, url: `http://${ip}:${(server.address() as AddressInfo).port}/ip` })));
}

function freePort(): Promise<number> {
  const server = createTcpServer();
  return new Promise((resolve, reject) =>
    server.once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    }),
  );
}

/** CPU time of a live process in seconds, and its RSS in MiB. */
function sampleProcess(pid: number): { cpuS: number; rssMb: number } {
  const ms = cpuMs(pid);
  if (ms === null) throw new Error(`process ${pid} is gone`);
  return { cpuS: ms / 1000, rssMb: rssMiB(pid) };
}

/** The service's own view of its memory, from its /metrics (prom-client default metrics), in MiB. */
interface MemoryBreakdown {
  rssMb: number;
  heapTotalMb: number;
  heapUsedMb: number;
  externalMb: number;
  /** V8's young generation (semi-spaces): sized by allocation rate, not by what is kept. */
  newSpaceMb: number;
  oldSpaceUsedMb: number;
}

async function memoryBreakdown(metricsPort: number): Promise<MemoryBreakdown> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (name: string, labels: Record<string, string> = {}): number => {
    const sample = metricSamples(text, name).find((s) => Object.entries(labels).every(([key, v]) => s.labels[key] === v));
    if (sample === undefined) throw new Error(`health /metrics has no ${name} ${JSON.stringify(labels)}`);
    return sample.value / 1024 / 1024;
  };
  const mb = (n: number) => Number(n.toFixed(1));
  return {
    rssMb: mb(value('process_resident_memory_bytes')),
    heapTotalMb: mb(value('nodejs_heap_size_total_bytes')),
    heapUsedMb: mb(value('nodejs_heap_size_used_bytes')),
    externalMb: mb(value('nodejs_external_memory_bytes')),
    newSpaceMb: mb(value('nodejs_heap_space_size_total_bytes', { space: 'new' })),
    oldSpaceUsedMb: mb(value('nodejs_heap_space_size_used_bytes', { space: 'old' })),
  };
}

function describeMemory(m: MemoryBreakdown): string {
  return `RSS ${m.rssMb} MiB = heap ${m.heapTotalMb} MiB (used ${m.heapUsedMb}, old space used ${m.oldSpaceUsedMb}, new space ${m.newSpaceMb}) + external ${m.externalMb} MiB + code, stacks and native`;
}

function perSecondHistogram(times: number[], start: number, seconds: number): number[] {
  const buckets = new Array<number>(seconds).fill(0);
  for (const t of times) {
    const i = Math.floor((t - start) / 1000);
    if (i >= 0 && i < seconds) buckets[i]!++;
  }
  return buckets;
}

async function main(): Promise<void> {
  let database: TestDatabase | undefined;
  let redis: RedisHandle | undefined;
  let health: LabProcess | undefined;
  let echo: Server | undefined;
  const handles: ProxyHandle[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'pgw-health-scale-'));
  try {
    console.log('building services/health (dist) ...');
    execFileSync('npx', ['tsc', '-b', 'services/health'], { cwd: ROOT, stdio: 'inherit' });
    database = await createTestDatabase();
    redis = await startRedis({ dir });
    const check = await echoServer(`${SUBNET}.100`);
    echo = check.server;
    for (let i = 0; i < 4; i++) handles.push(await startDante({ ip: `${SUBNET}.${11 + i}`, port: 1080, dir }));
    for (let i = 0; i < 4; i++) handles.push(await startTinyproxy({ ip: `${SUBNET}.${21 + i}`, port: 3128, dir }));
    await database.db.updateTable('settings').set({ healthIntervalS: PERIODS_S[0]!, probeTimeoutMs: 5000, checkUrl: check.url }).where('id', '=', 1).execute();
    await database.db
      .insertInto('proxies')
      .values(
        Array.from({ length: PROXIES }, (_, i) => {
          const h = handles[i % handles.length]!;
          return { name: `scale-${i}`, protocol: h.kind === 'socks5' ? ('socks5' as const) : ('http' as const), host: h.ip, port: h.port, username: null, passwordEnc: null };
        }),
      )
      .execute();
    console.log(`${PROXIES} proxies backed by ${handles.length} proxy processes (4 dante, 4 tinyproxy); check URL ${check.url}`);

    const concurrency = 32;
    const metricsPort = await freePort();
    const startedAt = Date.now();
    health = await spawnProcess(['node', ...NODE_FLAGS, serviceEntry('health')], {
      logFile: join(dir, 'health.log'),
      name: 'pgw-health',
      env: {
        ...(process.env as Record<string, string>),
        PGW_LOG_LEVEL: 'warn',
        PGW_DATABASE_URL: database.urlFor('pgw_health'),
        PGW_REDIS_URL: redis.url('health'),
        PGW_SECRET_KEY: randomBytes(32).toString('hex'),
        PGW_METRICS_PORT: String(metricsPort),
        PGW_HEALTH_CONCURRENCY: String(concurrency),
        // Its proxies listen on loopback addresses, where health refuses proxies unless allowed.
        PGW_PROXY_ALLOW_CIDRS: `${SUBNET}.0/24`,
      },
    });
    const healthPid = health.pid;
    let peakRssMb = 0;
    const sampler = setInterval(() => {
      if (health?.isAlive()) peakRssMb = Math.max(peakRssMb, sampleProcess(healthPid).rssMb);
    }, 500);

    // Never-checked proxies are probed at once: a burst bounded by the concurrency.
    const db = database.db;
    let firstBurstMs = NaN;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
      if (!health.isAlive()) throw new Error(`health exited; see ${health.logFile}:\n${readFileSync(health.logFile, 'utf8').slice(-2000)}`);
      const { n } = await db.selectFrom('proxies').select((eb) => eb.fn.countAll<string>().as('n')).where('lastCheckedAt', 'is not', null).executeTakeFirstOrThrow();
      if (Number(n) === PROXIES) {
        firstBurstMs = Date.now() - startedAt;
        break;
      }
    }
    if (Number.isNaN(firstBurstMs)) throw new Error('not every proxy got its first probe within 60 s');
    console.log(`first probe of ${PROXIES} never-checked proxies: all done ${firstBurstMs} ms after start (process start included, concurrency ${concurrency})`);
    const afterFirstBurst = await memoryBreakdown(metricsPort);
    console.log(`  health memory: ${describeMemory(afterFirstBurst)}`);

    const bus = new EventBus({ redisUrl: redis.url('api'), logger: createLogger('bench', 'warn') });
    const periods = [];
    for (const [index, periodS] of PERIODS_S.entries()) {
      if (index > 0) {
        await db.updateTable('settings').set({ healthIntervalS: periodS }).where('id', '=', 1).execute();
        for (let i = 0; i < 50 && !(await bus.ping()); i++) await sleep(100);
        await bus.publish({ type: 'config.changed' });
      }
      // Let the schedule settle on the phases of this period, then watch exactly one period.
      await sleep(periodS * 1000 + 2_000);
      const windowStart = Date.now();
      const before = sampleProcess(healthPid);
      await sleep(periodS * 1000);
      const after = sampleProcess(healthPid);
      const windowEnd = windowStart + periodS * 1000;
      const rows = await db
        .selectFrom('proxyChecks')
        .select(['proxyId', 'checkedAt', 'ok', 'latencyMs'])
        .where('checkedAt', '>=', new Date(windowStart))
        .where('checkedAt', '<', new Date(windowEnd))
        .where('trigger', '=', 'periodic')
        .execute();
      const times = rows.map((r) => r.checkedAt.getTime());
      const histogram = perSecondHistogram(times, windowStart, periodS);
      const latencies = rows.filter((r) => r.ok).map((r) => r.latencyMs!).sort((a, b) => a - b);
      const result = {
        periodS,
        probes: rows.length,
        distinctProxies: new Set(rows.map((r) => r.proxyId)).size,
        failed: rows.filter((r) => !r.ok).length,
        meanPerSecond: Number((rows.length / periodS).toFixed(2)),
        maxInAny1s: maxInWindow(times, 1000),
        maxInAny100ms: maxInWindow(times, 100),
        histogram,
        latencyMsP50: latencies[Math.floor(latencies.length * 0.5)] ?? null,
        latencyMsP99: latencies[Math.floor(latencies.length * 0.99)] ?? null,
        cpuPercent: Number((((after.cpuS - before.cpuS) / periodS) * 100).toFixed(1)),
        rssMb: Number(after.rssMb.toFixed(1)),
        memory: await memoryBreakdown(metricsPort),
      };
      periods.push(result);
      console.log(`\nperiod ${periodS} s: ${result.probes} periodic probes of ${result.distinctProxies} distinct proxies (${result.failed} failed)`);
      console.log(`  probes per second: ${histogram.join(' ')}`);
      console.log(`  mean ${result.meanPerSecond}/s, max in any 1 s window ${result.maxInAny1s}, max in any 100 ms window ${result.maxInAny100ms}`);
      console.log(`  probe latency p50 ${result.latencyMsP50} ms, p99 ${result.latencyMsP99} ms`);
      console.log(`  health CPU ${result.cpuPercent}% of one core over the period, RSS ${result.rssMb} MiB`);
      console.log(`  health memory: ${describeMemory(result.memory)}`);
    }
    await bus.close();
    clearInterval(sampler);
    console.log(`\nhealth peak RSS ${peakRssMb.toFixed(1)} MiB`);
    console.log(JSON.stringify({ bench: 'health-scale', nodeFlags: NODE_FLAGS, proxies: PROXIES, proxyProcesses: handles.length, concurrency, firstBurstMs, afterFirstBurst, peakRssMb: Number(peakRssMb.toFixed(1)), periods }));
  } finally {
    await health?.stop();
    echo?.close();
    for (const h of handles) await h.stop();
    await redis?.stop();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
