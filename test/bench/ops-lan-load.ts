/**
 * LAN-side load for the operations benches (reboot.ts, restart.ts) and the chaos matrix (streamed,
 * e2e/chaos-load.ts): one Node process inside the
 * lab's LAN namespace opens HTTP connections from many client addresses at once (curl per request
 * would cost more CPU than the gateway under test on 2 cores). Every request is a fresh TCP
 * connection bound to the client's address; it counts as effective only when the IP-echo server saw
 * the client's own proxy as the source (the client exited via its proxy).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LanClientPlan {
  ip: string;
  /** The address the echo server must report: the WAN address of this client's proxy. */
  expectedExitIp: string;
}

export interface RetrySchedule {
  firstMs: number;
  maxMs: number;
  jitter: number;
}

export function describeRetry(r: RetrySchedule): string {
  if (r.firstMs === r.maxMs) return `fixed ${r.firstMs} ms${r.jitter ? ` +-${Math.round(r.jitter * 100)}%` : ''}`;
  return `backoff ${r.firstMs} ms doubling to ${r.maxMs} ms${r.jitter ? `, +-${Math.round(r.jitter * 100)}% jitter` : ''}`;
}

export interface LanLoadOptions {
  ns: string;
  clients: readonly LanClientPlan[];
  /** e.g. http://203.0.113.10:80/ip */
  url: string;
  /** A connection not established within this is abandoned and retried (a SYN the guard dropped). */
  connectTimeoutMs: number;
  /** An established connection must deliver the whole answer within this. */
  responseTimeoutMs: number;
  /** Hard stop of the whole run. */
  maxRunMs: number;
}

export interface UntilEffectiveOptions extends LanLoadOptions {
  /**
   * Pause after a failed request of one client: firstMs, doubled after each further failure up to
   * maxMs, each pause scattered by +-jitter (0..1) so that clients do not retry in lockstep.
   * { firstMs: 100, maxMs: 100, jitter: 0 } is a fixed 100 ms.
   */
  retry: RetrySchedule;
}

export interface ContinuousOptions extends LanLoadOptions {
  /** Pause between two requests of one client. */
  pauseMs: number;
}

export interface UntilEffectiveResult {
  /** Per client: ms from `go` until its first effective request had its answer, or null if it never got one. */
  firstEffectiveMs: (number | null)[];
  /**
   * Per client: ms from `go` to the start of its last failed request before that (null: the first
   * request succeeded). The mapping became effective between this and firstEffectiveMs.
   */
  lastFailureStartMs: (number | null)[];
  /** Per client: the last failure seen (why it was not yet effective). */
  lastError: (string | null)[];
  attempts: number;
}

export interface ContinuousResult {
  /** One entry per request: start (ms since go), duration, outcome (none when streamed). */
  requests: { client: number; t: number; ms: number; ok: boolean; error?: string }[];
}

/** A request of a streamed continuous run, reported as soon as it ended. */
export interface StreamedRequest {
  /** Index into the clients. */
  readonly client: number;
  /** Date.now() at its start and end. */
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** ECONNREFUSED, ECONNRESET, CONNECT_TIMEOUT, RESPONSE_TIMEOUT, 'status 200 exit <ip>', ... */
  readonly error?: string;
}

// Runs inside the LAN namespace as `node --input-type=module -e`. Reads "go" then (continuous mode)
// "stop" on stdin; prints one JSON line.
const SCRIPT = String.raw`
import http from 'node:http';
import { createInterface } from 'node:readline';
const o = JSON.parse(process.env.PGW_LAN_LOAD);
const url = new URL(o.url);
function attempt(i) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.get({ host: url.hostname, port: url.port, path: url.pathname, localAddress: o.clients[i].ip, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        let ip;
        try { ip = JSON.parse(body).ip; } catch { ip = undefined; }
        const ok = res.statusCode === 200 && ip === o.clients[i].expectedExitIp;
        resolve({ ok, ms: performance.now() - started, error: ok ? undefined : 'status ' + res.statusCode + ' exit ' + ip });
      });
      res.on('error', (e) => resolve({ ok: false, ms: performance.now() - started, error: e.code ?? e.message }));
    });
    const abort = (code) => req.destroy(Object.assign(new Error(code), { code }));
    let connected = false;
    // Decided after the event loop's next poll, not in the timer: when this process waits for a CPU
    // (a loaded 2-core box), a connection the kernel established in time is seen only in the poll
    // phase after the timers, and was then abandoned as if the guard had dropped its SYN.
    const connectTimer = setTimeout(() => setImmediate(() => connected || abort('CONNECT_TIMEOUT')), o.connectTimeoutMs);
    const responseTimer = setTimeout(() => abort('RESPONSE_TIMEOUT'), o.connectTimeoutMs + o.responseTimeoutMs);
    req.on('socket', (s) => s.once('connect', () => { connected = true; clearTimeout(connectTimer); }));
    req.on('close', () => { clearTimeout(connectTimer); clearTimeout(responseTimer); });
    req.on('error', (e) => resolve({ ok: false, ms: performance.now() - started, error: e.code ?? e.message }));
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lines = createInterface({ input: process.stdin });
// The parent is gone (or ended the run by closing stdin): stop at once.
lines.on('close', () => process.exit(0));
const next = () => new Promise((r) => lines.once('line', r));
process.stdout.write('ready\n');
await next();
const go = performance.now();
const deadline = go + o.maxRunMs;
if (o.mode === 'until-effective') {
  const first = o.clients.map(() => null);
  const lastFailureStart = o.clients.map(() => null);
  const lastError = o.clients.map(() => null);
  let attempts = 0;
  const pause = (failures) => {
    const base = Math.min(o.retry.maxMs, o.retry.firstMs * 2 ** (failures - 1));
    return base * (1 + o.retry.jitter * (2 * Math.random() - 1));
  };
  await Promise.all(o.clients.map(async (_, i) => {
    let failures = 0;
    while (first[i] === null && performance.now() < deadline) {
      attempts++;
      const started = performance.now() - go;
      const r = await attempt(i);
      if (r.ok) first[i] = performance.now() - go;
      else {
        lastFailureStart[i] = started;
        lastError[i] = r.error;
        await sleep(pause(++failures));
      }
    }
  }));
  process.stdout.write(JSON.stringify({ firstEffectiveMs: first, lastFailureStartMs: lastFailureStart, lastError, attempts }) + '\n');
} else {
  let stopped = false;
  void next().then(() => (stopped = true));
  const requests = [];
  await Promise.all(o.clients.map(async (_, i) => {
    while (!stopped && performance.now() < deadline) {
      const t = performance.now() - go;
      const start = Date.now();
      const r = await attempt(i);
      if (o.stream) process.stdout.write(JSON.stringify({ client: i, start, end: Date.now(), ok: r.ok, error: r.error }) + '\n');
      else requests.push({ client: i, t: Math.round(t * 10) / 10, ms: Math.round(r.ms * 10) / 10, ok: r.ok, error: r.error });
      await sleep(o.pauseMs);
    }
  }));
  process.stdout.write(JSON.stringify({ requests }) + '\n');
}
process.exit(0);
`;

export interface LanLoad<R> {
  /** pid of the Node process in the LAN namespace (for its CPU time). */
  readonly pid: number;
  /** Starts the clock inside the LAN process (call right when the measured action starts). */
  go(): void;
  /** Continuous mode: ends the run. */
  stop(): void;
  result: Promise<R>;
  kill(): void;
}

async function startLanLoad<R>(mode: 'until-effective' | 'continuous', opts: UntilEffectiveOptions | ContinuousOptions, onRequest?: (request: StreamedRequest) => void): Promise<LanLoad<R>> {
  const child = spawn('ip', ['netns', 'exec', opts.ns, process.execPath, '--input-type=module', '-e', SCRIPT], {
    env: { ...process.env, PGW_LAN_LOAD: JSON.stringify({ ...opts, mode, stream: onRequest !== undefined }) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const lines = createInterface({ input: child.stdout });
  // 'close', not 'exit': 'exit' may come before the last line of its stdout is read (a run lost its
  // result that way: "LAN load exited (0) without a result").
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    lines.once('line', (line) => (line === 'ready' ? resolve() : reject(new Error(`LAN load: unexpected first line ${line}`))));
    void exited.then((code) => reject(new Error(`LAN load exited (${code}) before ready: ${stderr.trim()}`)));
  });
  await ready;
  const result = new Promise<R>((resolve, reject) => {
    lines.on('line', (line) => {
      const value = JSON.parse(line) as R | StreamedRequest;
      if (onRequest && typeof value === 'object' && value !== null && 'client' in value) onRequest(value);
      else resolve(value as R);
    });
    void exited.then((code) => reject(new Error(`LAN load exited (${code}) without a result: ${stderr.trim()}`)));
  });
  return {
    pid: child.pid!,
    go: () => child.stdin.write('go\n'),
    stop: () => child.stdin.write('stop\n'),
    result,
    kill: () => void (child.exitCode === null && child.kill('SIGKILL')),
  };
}

export function startUntilEffective(opts: UntilEffectiveOptions): Promise<LanLoad<UntilEffectiveResult>> {
  return startLanLoad('until-effective', opts);
}

/** With onRequest, each request is streamed to it as soon as it ended (and not in the result). */
export function startContinuous(opts: ContinuousOptions, onRequest?: (request: StreamedRequest) => void): Promise<LanLoad<ContinuousResult>> {
  return startLanLoad('continuous', opts, onRequest);
}
