/**
 * Client load for the chaos matrix: one Node process in the LAN namespace in which each client,
 * one request at a time, opens a fresh connection to the IP-echo host and asks who it is, pausing
 * pauseMs between requests. A request is effective only when the echo host saw the client's own
 * proxy. Every finished request is reported at once (one JSON line, wall-clock times), so the test
 * can wait for recovery while the load runs. Bounded: it stops on stdin's end or after maxRunMs.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LoadClient {
  readonly ip: string;
  /** The address the echo host must report: the client's proxy. */
  readonly expectedExitIp: string;
}

export interface LoadRequest {
  /** Index into the clients. */
  readonly client: number;
  /** Date.now() at its start and end. */
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** ECONNREFUSED, ECONNRESET, CONNECT_TIMEOUT, RESPONSE_TIMEOUT, 'exit <ip>', ... */
  readonly error?: string;
}

const SCRIPT = String.raw`
import http from 'node:http';
const o = JSON.parse(process.env.PGW_CHAOS_LOAD);
const url = new URL(o.url);
let running = true;
process.stdin.on('end', () => (running = false)).resume();
setTimeout(() => (running = false), o.maxRunMs).unref();
function attempt(client) {
  return new Promise((resolve) => {
    const start = Date.now();
    let settled = false;
    const done = (ok, error) => { if (!settled) { settled = true; resolve({ start, end: Date.now(), ok, error }); } };
    const req = http.get({ host: url.hostname, port: url.port, path: url.pathname, localAddress: client.ip, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        let ip;
        try { ip = JSON.parse(body).ip; } catch { ip = undefined; }
        done(res.statusCode === 200 && ip === client.expectedExitIp, 'status ' + res.statusCode + ' exit ' + ip);
      });
      res.on('error', (e) => done(false, e.code ?? e.message));
    });
    const abort = (code) => req.destroy(Object.assign(new Error(code), { code }));
    const connectTimer = setTimeout(() => abort('CONNECT_TIMEOUT'), o.connectTimeoutMs);
    const responseTimer = setTimeout(() => abort('RESPONSE_TIMEOUT'), o.connectTimeoutMs + o.responseTimeoutMs);
    req.on('socket', (s) => s.once('connect', () => clearTimeout(connectTimer)));
    req.on('close', () => { clearTimeout(connectTimer); clearTimeout(responseTimer); });
    req.on('error', (e) => done(false, e.code ?? e.message));
  });
}
process.stdout.write('ready\n');
await Promise.all(o.clients.map(async (client, i) => {
  while (running) {
    const r = await attempt(client);
    process.stdout.write(JSON.stringify({ client: i, ...r, error: r.ok ? undefined : r.error }) + '\n');
    await new Promise((ok) => setTimeout(ok, o.pauseMs));
  }
}));
process.exit(0);
`;

export class ChaosLoad {
  readonly requests: LoadRequest[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly clients: readonly LoadClient[]) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'ready') return;
      this.requests.push(JSON.parse(line) as LoadRequest);
      for (const wake of this.waiters) wake();
    });
  }

  static async start(opts: { ns: string; clients: readonly LoadClient[]; url: string; pauseMs: number; connectTimeoutMs: number; responseTimeoutMs: number; maxRunMs: number }): Promise<ChaosLoad> {
    const child = spawn('ip', ['netns', 'exec', opts.ns, process.execPath, '--input-type=module', '-e', SCRIPT], {
      env: { ...process.env, PGW_CHAOS_LOAD: JSON.stringify(opts) },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const load = new ChaosLoad(child, opts.clients);
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`chaos load exited (${code}) before it was ready: ${stderr.trim()}`)));
    });
    return load;
  }

  /**
   * When every client is effective again after a fault that began at faultAt and ended at endAt:
   * waits until each client's latest request started at or after endAt and succeeded (requests of
   * one client never overlap). Returns the end of the first success after each client's last
   * failure since faultAt, the latest over the clients (faultAt itself when none failed); null
   * after timeoutMs.
   */
  async recovered(faultAt: number, endAt: number, timeoutMs: number): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const latest = this.clients.map((_, c) => this.requests.filter((r) => r.client === c).at(-1));
      if (latest.every((r) => r !== undefined && r.start >= endAt && r.ok)) return this.backAt(faultAt);
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 500));
        this.waiters.add(wake);
      });
    }
  }

  private backAt(since: number): number {
    let back = since;
    for (let c = 0; c < this.clients.length; c++) {
      const mine = this.requests.filter((r) => r.client === c && r.end >= since);
      const lastFailure = mine.filter((r) => !r.ok).at(-1);
      if (!lastFailure) continue;
      const success = mine.find((r) => r.ok && r.start >= lastFailure.start);
      back = Math.max(back, success!.end);
    }
    return back;
  }

  /** Requests that ended in [from, to]. */
  between(from: number, to: number): LoadRequest[] {
    return this.requests.filter((r) => r.end >= from && r.end <= to);
  }

  stop(): void {
    this.child.stdin.end();
    setTimeout(() => this.child.exitCode === null && this.child.kill('SIGKILL'), 5000).unref();
  }
}
