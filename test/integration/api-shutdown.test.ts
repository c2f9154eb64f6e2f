// Graceful shutdown of the real api process (services/api/dist, built by the test script): on SIGTERM
// it stops accepting, ends SSE streams cleanly, lets a request in flight finish, and exits 0; a request
// still running at the drain deadline (5 s) is cut and the process still exits 0. Real Postgres, a
// private Redis, and a BullMQ worker standing in for the health service to hold a probe request open.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectRedis, PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { Worker } from 'bullmq';
import { startRedis } from '../../lab/redis.js';
import type { LabProcess, RedisHandle } from '../../lab/types.js';
import { startApiProcess } from '../support/api-process.js';
import { serviceEntry } from '../support/gateway.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ContractValidator } from './api-contract-validator.js';

const MAIN = serviceEntry('api');
const ADMIN = { username: 'shutdown-admin', password: randomBytes(12).toString('hex') };
const DRAIN_DEADLINE_MS = 5_000;


async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('api graceful shutdown', () => {
  const contract = new ContractValidator();
  let dir: string;
  let database: TestDatabase;
  let redis: RedisHandle;
  let proxyId: number;
  const started: LabProcess[] = [];

  before(async () => {
    assert.ok(existsSync(MAIN), `${MAIN} is missing: build first (npx tsc -b services/api)`);
    dir = mkdtempSync(join(tmpdir(), 'pgw-api-shutdown-'));
    redis = await startRedis({ dir });
    database = await createTestDatabase({ prefix: 'pgw_api_shutdown' });
    proxyId = (
      await database.db.insertInto('proxies').values({ name: 'held', protocol: 'socks5', host: '198.51.100.10', port: 1080, username: null, passwordEnc: null }).returning('id').executeTakeFirstOrThrow()
    ).id;
  });
  after(async () => {
    for (const proc of started) await proc.kill().catch(() => undefined);
    await redis?.stop();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the api from dist, waits until it is ready, logs in. */
  async function startApi(name: string): Promise<{ proc: LabProcess; url: string; token: string; logFile: string }> {
    const { proc, url, logFile } = await startApiProcess({ database, redisUrl: redis.url('api'), dir, admin: ADMIN, name });
    started.push(proc);
    const login = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
    assert.equal(login.status, 200);
    return { proc, url, token: ((await login.json()) as { token: string }).token, logFile };
  }

  /** An SSE stream, recording whether the server ended it cleanly. */
  async function openEvents(url: string, token: string) {
    const res = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    let outcome: 'open' | 'ended' | 'failed' = 'open';
    const reader = res.body!.getReader();
    void (async () => {
      try {
        while (!(await reader.read()).done);
        outcome = 'ended';
      } catch {
        outcome = 'failed';
      }
    })();
    return { outcome: () => outcome };
  }

  it('on SIGTERM stops accepting, ends SSE streams, finishes the request in flight, exits 0', async () => {
    const api = await startApi('drain');
    // The health service's part, held open until the test lets the probe finish.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let jobs = 0;
    const connection = connectRedis(redis.url('health'), { maxRetriesPerRequest: null });
    const worker = new Worker<ProbeJobData, ProbeResult>(
      PROBE_QUEUE,
      async (job) => {
        jobs++;
        await released;
        return { proxyId: job.data.proxyId, ok: true, latencyMs: 12, exitIp: '198.51.100.10', error: null, checkedAt: new Date().toISOString() };
      },
      { connection },
    );
    try {
      // The stand-in connected before the job exists (the health service is up before anyone probes).
      await worker.waitUntilReady();
      const events = await openEvents(api.url, api.token);
      let answered: string | null = null;
      const inFlight = fetch(`${api.url}/api/v1/proxies/${proxyId}/check`, { method: 'POST', headers: { authorization: `Bearer ${api.token}` } }).then((res) => {
        answered = `${res.status} ${res.headers.get('content-type')}`;
        return res;
      });
      // Bounded generously: in CI the deploy tests build images beside this file on the same 2 cores,
      // and the worker's first poll took over 10 s there (3 of 6 runs, never alone). An answer
      // before the job arrives says why it never will.
      await until('the probe job reached the worker', () => {
        if (answered !== null) throw new Error(`the probe request was answered (${answered}) before its job reached the worker`);
        return jobs === 1;
      }, 30_000);

      const signalledAt = Date.now();
      process.kill(api.proc.pid, 'SIGTERM');
      await until('the SSE stream ended', () => events.outcome() !== 'open', 2_000);
      assert.equal(events.outcome(), 'ended', 'ended cleanly, not reset');
      await assert.rejects(fetch(`${api.url}/healthz`), 'no new connection is accepted while draining');
      assert.equal(api.proc.isAlive(), true, 'still running while a request is in flight');

      release();
      const res = await inFlight;
      const body = await res.json();
      contract.check('POST', `/api/v1/proxies/${proxyId}/check`, res.status, res.headers.get('content-type'), body);
      assert.deepEqual([res.status, (body as ProbeResult).ok], [200, true], 'the request in flight got its answer');
      assert.equal(await api.proc.exited, 0);
      assert.ok(Date.now() - signalledAt < DRAIN_DEADLINE_MS, `exited ${Date.now() - signalledAt} ms after SIGTERM, without waiting for the deadline`);
      assert.match(readFileSync(api.logFile, 'utf8'), /"message":"stopped"/);
    } finally {
      release();
      await worker.close();
      connection.disconnect();
    }
  });

  it('cuts a request still running at the drain deadline and still exits 0', async () => {
    // No worker: the probe would wait for the health service far longer than the deadline.
    await database.db.updateTable('settings').set({ probeTimeoutMs: 30_000 }).where('id', '=', 1).execute();
    const api = await startApi('deadline');
    const stuck = fetch(`${api.url}/api/v1/proxies/${proxyId}/check`, { method: 'POST', headers: { authorization: `Bearer ${api.token}` } }).then(
      (res) => `answered ${res.status}`,
      () => 'connection closed',
    );
    await until('the probe job is queued', async () => (await queuedJobs()) > 0, 10_000);
    const signalledAt = Date.now();
    process.kill(api.proc.pid, 'SIGTERM');
    assert.equal(await api.proc.exited, 0);
    const took = Date.now() - signalledAt;
    assert.ok(took >= DRAIN_DEADLINE_MS - 250 && took < DRAIN_DEADLINE_MS + 3_000, `exited ${took} ms after SIGTERM (deadline ${DRAIN_DEADLINE_MS} ms)`);
    assert.equal(await stuck, 'connection closed');
    assert.match(readFileSync(api.logFile, 'utf8'), /requests still in flight at the shutdown deadline/);
  });

  async function queuedJobs(): Promise<number> {
    const client = connectRedis(redis.adminUrl);
    try {
      return await client.llen(`bull:${PROBE_QUEUE}:wait`);
    } finally {
      client.disconnect();
    }
  }
});
