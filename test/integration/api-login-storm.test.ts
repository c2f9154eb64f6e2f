// Login under pressure, against the built api process with its production node flags (issue 10,
// point 3): a storm of concurrent wrong-password logins is throttled before any password is checked,
// argon2 runs with bounded concurrency, the api stays under its systemd MemoryMax with no 5xx, and
// the real user still logs in at once from another address. Distinct source addresses are real
// loopback addresses (127.0.0.x as the socket's local address), not a forwarded header.
// Real Postgres, a private Redis; argon2 verifications are counted by the api's own metric.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_THROTTLE } from '../../services/api/src/auth/login-throttle.js';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';
import { type ApiProcess, startApiProcess } from '../support/api-process.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { REPO_ROOT, serviceEntry } from '../support/gateway.js';
import { metricSamples } from '../support/prometheus-text.js';

const ADMIN = { username: 'storm-admin', password: 'storm-admin-password-1' };
const STORM = 200;

interface LoginResult {
  status: number;
  retryAfter: string | undefined;
  setCookie: string[];
  body: string;
}

/** One login on its own connection from `from` (a loopback address), so the api sees that source address; `cookie`: the browser's. */
function login(url: string, from: string, body: { username: string; password: string }, cookie?: string): Promise<LoginResult> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/api/v1/auth/login`,
      { method: 'POST', localAddress: from, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...(cookie ? { cookie } : {}) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], setCookie: res.headers['set-cookie'] ?? [], body }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The unit's MemoryMax in bytes, read from systemd/pgw-api.service (the limit production runs under). */
function unitMemoryMax(): number {
  const unit = readFileSync(join(REPO_ROOT, 'systemd/pgw-api.service'), 'utf8');
  const match = /^MemoryMax=(\d+)([KMG])$/m.exec(unit);
  assert.ok(match, 'systemd/pgw-api.service sets MemoryMax');
  return Number(match[1]) * 1024 ** ' KMG'.indexOf(match[2]!);
}

/** Peak resident set size of the process so far (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Starts the peak over, so each storm's peak is its own (clear_refs "5" resets VmHWM to the current RSS). */
function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** The api's count of argon2 verifications done for logins, from its metrics listener. */
async function passwordChecks(api: ApiProcess): Promise<number> {
  const text = await (await fetch(`${api.metricsUrl}/metrics`)).text();
  const samples = metricSamples(text, 'pgw_api_login_password_checks_total');
  assert.ok(samples.length > 0, 'pgw_api_login_password_checks_total is exported');
  return samples.reduce((sum, sample) => sum + sample.value, 0);
}

/** Results by status code. */
function byStatus(results: LoginResult[]): Record<string, LoginResult[]> {
  const groups: Record<string, LoginResult[]> = {};
  for (const r of results) (groups[r.status] ??= []).push(r);
  return groups;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

describe('login storm against the built api process', () => {
  let dir: string;
  let database: TestDatabase;
  let redis: RedisHandle;
  let api: ApiProcess;
  const memoryMax = unitMemoryMax();

  before(async () => {
    const main = serviceEntry('api');
    assert.ok(existsSync(main), `${main} is missing: build first (npx tsc -b services/api)`);
    dir = mkdtempSync(join(tmpdir(), 'pgw-api-storm-'));
    redis = await startRedis({ dir });
    database = await createTestDatabase({ prefix: 'pgw_api_storm' });
    api = await startApiProcess({ database, redisUrl: redis.url('api'), dir, admin: ADMIN, logLevel: 'error' });
    console.log(`# api pid ${api.proc.pid}: peak RSS after start ${mib(peakRss(api.proc.pid))}, unit MemoryMax ${mib(memoryMax)}`);
  });
  after(async () => {
    await api?.proc.kill();
    await redis?.stop();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The real admin, from an address of its own: must succeed on the first try. */
  async function realAdminLogsIn(from: string): Promise<void> {
    const started = Date.now();
    const result = await login(api.url, from, ADMIN);
    console.log(`# real admin from ${from}: ${result.status} in ${Date.now() - started} ms`);
    assert.equal(result.status, 200, `the real admin is not locked out from ${from} (got ${result.status}, Retry-After ${result.retryAfter})`);
  }

  it(`${STORM} concurrent wrong-password logins from one address: at most the allowed number are checked, no 5xx`, async () => {
    const checksBefore = await passwordChecks(api);
    resetPeakRss(api.proc.pid);
    const results = await Promise.all(Array.from({ length: STORM }, () => login(api.url, '127.0.0.2', { username: ADMIN.username, password: 'wrong-password-guess' })));
    const counts = byStatus(results);
    const peak = peakRss(api.proc.pid);
    console.log(`# one address: ${Object.entries(counts).map(([s, rs]) => `${rs.length}x${s}`).join(' ')}; api peak RSS ${mib(peak)}`);
    assert.deepEqual(Object.keys(counts).sort(), ['401', '429'], 'only 401 (checked, wrong) and 429 (throttled); no 5xx');
    for (const r of counts['429']!) assert.ok(Number(r.retryAfter) > 0, `429 with Retry-After (got ${r.retryAfter})`);
    assert.ok(counts['401']!.length <= DEFAULT_THROTTLE.perAddressAndUser, `${counts['401']!.length} wrong passwords answered; the throttle allows ${DEFAULT_THROTTLE.perAddressAndUser}`);
    assert.ok(api.proc.isAlive(), 'the api is still running');
    assert.ok(peak < memoryMax, `peak RSS ${mib(peak)} stays under MemoryMax ${mib(memoryMax)}`);
    await realAdminLogsIn('127.0.0.3');
    const checked = (await passwordChecks(api)) - checksBefore;
    console.log(`# argon2 verifications: ${checked} (storm ${counts['401']!.length} + the real admin 1)`);
    assert.equal(checked, counts['401']!.length + 1, 'a password is verified only for the attempts the throttle let through');
  });

  it(`${STORM} concurrent wrong-password logins from 100 addresses: checks run a few at a time, memory stays bounded`, async () => {
    // Two attempts per address stay under the per-address limits: only the bounded check gate and the global ceiling stand in the way.
    const sources = Array.from({ length: STORM }, (_, i) => `127.0.1.${(i % 100) + 1}`);
    const checksBefore = await passwordChecks(api);
    resetPeakRss(api.proc.pid);
    const results = await Promise.all(sources.map((from) => login(api.url, from, { username: ADMIN.username, password: 'wrong-password-guess' })));
    const counts = byStatus(results);
    const peak = peakRss(api.proc.pid);
    const checked = (await passwordChecks(api)) - checksBefore;
    console.log(`# 100 addresses: ${Object.entries(counts).map(([s, rs]) => `${rs.length}x${s}`).join(' ')}; ${checked} argon2 verifications; api peak RSS ${mib(peak)}`);
    assert.ok(results.every((r) => r.status === 401 || (r.status === 429 && Number(r.retryAfter) > 0)), 'each is 401, or 429 with Retry-After; no 5xx');
    assert.equal(checked, counts['401']?.length ?? 0, 'every 401 was a verified password, every 429 cost none');
    assert.ok(api.proc.isAlive(), 'the api is still running');
    assert.ok(peak < memoryMax, `peak RSS ${mib(peak)} stays under MemoryMax ${mib(memoryMax)}`);
    await realAdminLogsIn('127.0.0.4');
  });
  it('a distributed storm that keeps the global ceiling full: a browser that logged in before (its device cookie) still logs in at once; a new one waits', async () => {
    // The browser the admin used before the attack: its login left a device cookie (OWASP's device
    // cookies): its attempts have a limit of their own, outside the address and global ones.
    const before = await login(api.url, '127.0.0.5', ADMIN);
    assert.equal(before.status, 200);
    const device = before.setCookie.map((c) => c.split(';')[0]!).find((c) => c.startsWith('pgw_device='));
    assert.ok(device, `the login set a device cookie: ${before.setCookie.join(' | ')}`);
    // The storm: wrong passwords from many addresses, a few usernames, about as many in flight as
    // the password queue takes (more would only be told "busy" and not counted), until a fresh
    // address and username is refused: every login without a device cookie is refused then.
    const users = ['root', 'admin', ADMIN.username, 'operator'];
    let sent = 0;
    const globalFull = async () => (await login(api.url, '127.0.3.250', { username: `nobody-${sent}`, password: 'x' })).status === 429;
    const deadline = Date.now() + 50_000;
    let full = false;
    while (!full && Date.now() < deadline) {
      await Promise.all(Array.from({ length: 8 }, () => {
        const i = sent++;
        return login(api.url, `127.0.3.${(i % 60) + 1}`, { username: users[i % users.length]!, password: `guess-${i}` });
      }));
      full = await globalFull();
    }
    assert.ok(full, `the storm filled the global ceiling within 50 s (${sent} attempts)`);
    console.log(`# global ceiling full after ${sent} attempts from 60 addresses`);
    const stranger = await login(api.url, '127.0.0.7', ADMIN);
    assert.equal(stranger.status, 429, 'a browser without a device cookie waits for the window (the ceiling bounds distributed guessing)');
    const known = await login(api.url, '127.0.0.6', ADMIN, device);
    assert.equal(known.status, 200, `the admin's own browser logs in during the storm (got ${known.status}, Retry-After ${known.retryAfter})`);
    // A device cookie is the user's: for another username it counts for nothing.
    const other = await login(api.url, '127.0.0.8', { username: 'someone-else', password: 'x' }, device);
    assert.equal(other.status, 429);
    // A password change (here another admin's reset: the change is itself throttled like a login
    // while the storm lasts) bumps the token version, which ends every device cookie of the user
    // as it ends every session.
    await database.db.updateTable('users').set((eb) => ({ tokenVersion: eb('tokenVersion', '+', 1) })).where('username', '=', ADMIN.username).execute();
    const stale = await login(api.url, '127.0.0.9', ADMIN, device);
    assert.equal(stale.status, 429, 'a cookie from before the password change: counted as any browser, refused while the storm lasts');
  });
});
