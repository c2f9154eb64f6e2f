// bench:accounting (issue 16): the write load of the accounting history at 4096 clients, against the
// real Postgres (a fresh test database, the api's own role). Every client has traffic in every sample
// (the worst case: an idle client writes no row). Each sample goes the way the api takes it: parsed
// with the contract's schema (as from pgw:usage), then writeUsageSample (one statement adding to the
// minute, hour and day buckets, the cursor moved). Prints a table and ends with one JSON line.
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createDb } from '@pgw/db';
import { type ClientUsageSampleRecord, parseClientUsageSample } from '@pgw/events';
import { sql } from 'kysely';
import { writeUsageSample } from '../../services/api/src/repositories/usage.js';
import { createTestDatabase } from '../support/database.js';

const CLIENTS = 4096;
/** Samples per run: 10 s apart, so 3 minutes of history (new minute buckets, updated hour and day ones). */
const SAMPLES = 18;
const INTERVAL_MS = 10_000;

const ip = (i: number) => `192.168.${16 + (i >> 8)}.${i & 255}`;

function sampleAt(n: number, start: number): string {
  const clients: ClientUsageSampleRecord['clients'] = {};
  for (let i = 0; i < CLIENTS; i++) {
    const k = n + 1;
    clients[ip(i)] = { mappingId: i + 1, bytesUp: k * (1_000 + i), bytesDown: k * (20_000 + 7 * i), connections: k * 3, quota: null, overQuota: false };
  }
  const record: ClientUsageSampleRecord = { node: 'bench', sampledAt: new Date(start + n * INTERVAL_MS).toISOString(), countersSince: new Date(start).toISOString(), sampleMs: 1, clients };
  return JSON.stringify(record);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

const database = await createTestDatabase({ prefix: 'pgw_bench_acct' });
const db = createDb(database.urlFor('pgw_api'), { applicationName: 'bench-accounting', maxConnections: 2 });
try {
  const loadBefore = load();
  // Whole minutes, so each run writes the same number of minute buckets.
  const start = Math.floor(Date.now() / 60_000) * 60_000 - SAMPLES * INTERVAL_MS;
  const parseMs: number[] = [];
  const writeMs: number[] = [];
  let rows = 0;
  for (let n = 0; n < SAMPLES; n++) {
    const raw = sampleAt(n, start);
    const t0 = performance.now();
    const sample = parseClientUsageSample(raw);
    const t1 = performance.now();
    if (!sample) throw new Error('the bench sample does not parse');
    const written = await writeUsageSample(db, sample);
    const t2 = performance.now();
    if (written.skipped || written.rows !== CLIENTS) throw new Error(`sample ${n}: ${JSON.stringify(written)}`);
    parseMs.push(t1 - t0);
    writeMs.push(t2 - t1);
    rows += written.rows * 3;
  }
  const counts = await sql<{ m: string; h: string; d: string }>`SELECT (SELECT count(*) FROM usage_minute) AS m, (SELECT count(*) FROM usage_hour) AS h, (SELECT count(*) FROM usage_day) AS d`.execute(database.db);
  const totalWriteS = writeMs.reduce((a, b) => a + b, 0) / 1000;
  const result = {
    bench: 'accounting',
    clients: CLIENTS,
    samples: SAMPLES,
    sampleBytes: sampleAt(0, start).length,
    parseMsMedian: +median(parseMs).toFixed(1),
    writeMsMedian: +median(writeMs).toFixed(1),
    writeMsMax: +Math.max(...writeMs).toFixed(1),
    rowsPerSecond: Math.round(rows / totalWriteS),
    /** The steady load at the agents' 10 s interval: one sample per node, written in writeMsMedian. */
    dbBusyShareAt10s: +(median(writeMs) / INTERVAL_MS).toFixed(3),
    rowsStored: { minute: Number(counts.rows[0]!.m), hour: Number(counts.rows[0]!.h), day: Number(counts.rows[0]!.d) },
    loadavg: { before: loadBefore, after: load() },
  };
  console.log(`accounting history at ${CLIENTS} clients, ${SAMPLES} samples ${INTERVAL_MS / 1000} s apart (load ${result.loadavg.before} -> ${result.loadavg.after})`);
  console.log(`  sample size            ${(result.sampleBytes / 1e6).toFixed(2)} MB of JSON`);
  console.log(`  parse (zod)            median ${result.parseMsMedian} ms`);
  console.log(`  write (one statement)  median ${result.writeMsMedian} ms, max ${result.writeMsMax} ms`);
  console.log(`  rows/s while writing   ${result.rowsPerSecond} (3 rows per client: minute, hour, day)`);
  console.log(`  stored                 ${result.rowsStored.minute} minute, ${result.rowsStored.hour} hour, ${result.rowsStored.day} day rows`);
  console.log(JSON.stringify(result));
} finally {
  await db.destroy();
  await database.drop();
}
