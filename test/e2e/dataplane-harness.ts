/**
 * Shared setup of the dataplane e2e tests (agent and guard): a lab, a test database seeded with
 * proxies and mappings, the real pgw-agent in the gateway namespace, a long-lived TCP/UDP prober
 * in the LAN namespace and a tcpdump analysis of the gateway's eth0.
 * Services run through the lead's test/support/gateway.ts (their uids, capabilities and roles).
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EventBus } from '@pgw/events';
import { createLab, type Lab, type LabProcess, type ProxyKind } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway } from '../support/gateway.js';
import { waitFor } from '../../lab/wait.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const GUARD_LOADER = join(REPO, 'guard/load-guard.sh');
export const AGENT_METRICS_PORT = 9101;

export type ProbeResult = 'connected' | 'refused' | 'timeout' | `error:${string}`;

/** Runs in the LAN namespace: one process for every probe, so a probe costs a connect, not a spawn. */
const PROBER = `
const net = require('node:net');
const dgram = require('node:dgram');
const { createInterface } = require('node:readline');
function tcp({ src, host, port, timeoutMs }) {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect({ host, port, localAddress: src, timeout: timeoutMs });
    const done = (result) => { s.destroy(); resolve({ result, ms: Date.now() - started }); };
    s.once('connect', () => done('connected'));
    s.once('timeout', () => done('timeout'));
    s.once('error', (e) => done(e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' ? 'refused' : 'error:' + e.code));
  });
}
async function until(cmd) {
  const deadline = Date.now() + cmd.maxMs;
  let tries = 0;
  for (;;) {
    tries++;
    const r = await tcp({ ...cmd, timeoutMs: 200 });
    if (r.result === cmd.want) return { result: r.result, at: Date.now(), tries };
    if (Date.now() > deadline) return { result: r.result, at: Date.now(), tries, gaveUp: true };
    await new Promise((ok) => setTimeout(ok, 3));
  }
}
function udp({ src, host, port, timeoutMs }) {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => { s.close(); resolve({ result: 'none' }); }, timeoutMs);
    s.once('message', () => { clearTimeout(timer); s.close(); resolve({ result: 'reply' }); });
    s.once('error', (e) => { clearTimeout(timer); s.close(); resolve({ result: 'error:' + e.code }); });
    s.bind({ address: src }, () => s.send(Buffer.from('pgw-leak-probe'), port, host));
  });
}
createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = JSON.parse(line);
  const out = cmd.op === 'tcp' ? await tcp(cmd) : cmd.op === 'until' ? await until(cmd) : await udp(cmd);
  process.stdout.write(JSON.stringify({ id: cmd.id, ...out }) + '\\n');
});
process.stdout.write(JSON.stringify({ ready: true }) + '\\n');
`;

/** How long the prober may take to start (a node start in a namespace: well under a second). */
const PROBER_START_MS = 30_000;

export class Prober {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (reply: Record<string, unknown>) => void>();
  private seq = 0;
  readonly ready: Promise<void>;

  constructor(ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, 'node', '-e', PROBER]);
    let markReady!: () => void;
    let failReady!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => ((markReady = resolve), (failReady = reject)));
    // Rejected with nobody waiting (it exits after its harness is gone): not an unhandled rejection.
    this.ready.catch(() => undefined);
    // A prober that exits (or never starts) fails what waits on it: a before hook awaiting it has
    // no timeout of its own, and the run hung.
    const startTimer = setTimeout(() => failReady(new Error(`the prober in ${ns} did not start within ${PROBER_START_MS} ms`)), PROBER_START_MS);
    this.child.once('exit', (code, signal) => {
      clearTimeout(startTimer);
      const error = new Error(`the prober in ${ns} exited (${signal ?? code})`);
      failReady(error);
      for (const [, settle] of this.waiting) settle({ error: error.message });
      this.waiting.clear();
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line) as Record<string, unknown>;
      if (reply.ready) {
        clearTimeout(startTimer);
        return markReady();
      }
      this.waiting.get(reply.id as number)?.(reply);
      this.waiting.delete(reply.id as number);
    });
  }

  private send(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return reject(new Error('the prober has exited'));
      this.waiting.set(id, (reply) => (typeof reply.error === 'string' && reply.id === undefined ? reject(new Error(reply.error)) : resolve(reply)));
      this.child.stdin.write(JSON.stringify({ id, ...command }) + '\n');
    });
  }

  async tcp(src: string, host: string, port: number, timeoutMs = 1000): Promise<{ result: ProbeResult; ms: number }> {
    return (await this.send({ op: 'tcp', src, host, port, timeoutMs })) as { result: ProbeResult; ms: number };
  }

  /** Connects again and again until the result is `want`; `at` is Date.now() in the prober. */
  async until(src: string, host: string, port: number, want: ProbeResult, maxMs: number): Promise<{ result: ProbeResult; at: number; tries: number; gaveUp?: boolean }> {
    return (await this.send({ op: 'until', src, host, port, want, maxMs })) as { result: ProbeResult; at: number; tries: number; gaveUp?: boolean };
  }

  async udp(src: string, host: string, port: number, timeoutMs = 300): Promise<{ result: string }> {
    return (await this.send({ op: 'udp', src, host, port, timeoutMs })) as { result: string };
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill('SIGKILL');
  }
}

/**
 * Accepts TCP on 127.0.0.1:<port> for each port given: where the forwarder would listen. Writes
 * one line per accepted connection (its log is the proof a socket received or did not receive).
 */
export const PORT_LISTENER = `
const net = require('node:net');
const host = process.env.LISTEN_HOST || '127.0.0.1';
for (const port of process.argv.slice(1).map(Number)) net.createServer((s) => { console.log('accepted ' + port + ' from ' + s.remoteAddress); s.on('error', () => {}); s.end('listener-' + port); }).listen(port, host);
`;
/** A service on every gateway address (as an operator's SSH would be). */
export const ANY_LISTENER = `require('node:net').createServer((s) => s.end('gateway-service')).listen({ port: Number(process.argv[1]), host: '::', ipv6Only: false });`;

export interface WanAnalysis {
  /** Packets whose source or destination is a LAN client address. */
  fromClients: string[];
  /** IPv4 packets to a WAN host that is no proxy endpoint (and not the gateway itself). */
  toOtherHosts: string[];
  /** Every IP packet line, for positive controls. */
  all: string[];
}

/** Reads `tcpdump -n` lines from eth0: any client address, or any WAN host but the proxies, is a leak. */
export function analyzeWan(lines: readonly string[], clients: readonly string[], proxies: readonly { ip: string; port: number }[]): WanAnalysis {
  const clientSet = new Set(clients);
  const proxyEndpoints = new Set(proxies.map((p) => `${p.ip}.${p.port}`));
  const ip = lines.filter((l) => / IP6? /.test(l));
  const addressOf = (endpoint: string) => endpoint.replace(/\.\d+$/, '').replace(/:$/, '');
  const fromClients = ip.filter((l) => {
    const m = / IP6? (\S+) > (\S+?):? /.exec(l);
    return m !== null && [m[1]!, m[2]!].some((e) => clientSet.has(e) || clientSet.has(addressOf(e)));
  });
  const toOtherHosts = ip.filter((l) => {
    const m = / IP (\S+) > (\S+?): /.exec(l);
    if (!m) return false;
    const [src, dst] = [m[1]!, m[2]!];
    return !proxyEndpoints.has(dst) && !proxyEndpoints.has(src);
  });
  return { fromClients, toOtherHosts, all: ip };
}

export interface DataplaneOptions {
  clients?: number;
  proxies?: ProxyKind[];
  resyncIntervalMs?: number;
}

export interface Dataplane {
  readonly lab: Lab;
  readonly tdb: TestDatabase;
  readonly gateway: Gateway;
  readonly bus: EventBus;
  readonly prober: Prober;
  readonly gw: string;
  /** Addresses of the lab's proxies: the only WAN hosts the gateway may talk to. */
  readonly proxyEndpoints: { ip: string; port: number }[];
  agent: LabProcess | undefined;
  startAgent(): Promise<void>;
  killAgent(): Promise<void>;
  loadGuard(): Promise<void>;
  nft(...args: string[]): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }>;
  /** Elements of one set of table inet pgw, or null when the table is absent. */
  setElements(name: string): Promise<string[] | null>;
  waitFor(what: string, check: () => Promise<boolean>, timeoutMs?: number): Promise<number>;
  addProxy(index: number, status: 'up' | 'down' | 'unknown'): Promise<number>;
  addMapping(clientIp: string, proxyId: number, port: number, enabled?: boolean): Promise<number>;
  /** Writes the status as the health service does, then publishes its notice (unless Redis is meant down). */
  setProxyStatus(proxyId: number, status: 'up' | 'down', publish?: boolean): Promise<void>;
  /** Stand-ins for the forwarder's listeners: uid pgw, as the agent requires of a forwarder port. */
  startPortListeners(ports: number[]): Promise<void>;
  /** Listeners on 127.0.0.1 as another user (a local user or another service): their process, whose log lists what they accepted. */
  /** Listeners of that user on 127.0.0.1 (or `host`), one per port. */
  startListenersAs(uid: string, ports: number[], name: string, host?: string): Promise<LabProcess>;
  startGatewayService(port: number): Promise<void>;
  captureWan(): Promise<{ stop(): Promise<WanAnalysis> }>;
  destroy(): Promise<void>;
}

export async function createDataplane(options: DataplaneOptions = {}): Promise<Dataplane> {
  execFileSync('npx', ['tsc', '-b', join(REPO, 'services/agent')], { cwd: REPO, stdio: 'inherit', timeout: 180_000 });
  const lab = await createLab({ clients: options.clients ?? 4, proxies: options.proxies ?? ['socks5'] });
  const cleanups: (() => Promise<void> | void)[] = [() => lab.destroy()];
  const destroy = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  };
  try {
    const tdb = await createTestDatabase({ prefix: 'pgw_dp' });
    cleanups.push(() => tdb.drop());
    const gateway = new Gateway(lab, tdb, { env: { agent: { PGW_RESYNC_INTERVAL_MS: String(options.resyncIntervalMs ?? 1000) } } });
    cleanups.push(() => gateway.destroy());
    const bus = gateway.bus;
    const prober = new Prober(lab.ns.lan);
    cleanups.push(() => prober.close());
    await prober.ready;
    const gw = lab.ns.gateway;
    let proxySeq = 0;

    const dp: Dataplane = {
      lab,
      tdb,
      gateway,
      bus,
      prober,
      gw,
      proxyEndpoints: lab.proxies.map((p) => ({ ip: p.ip, port: p.port })),
      agent: undefined,
      async startAgent() {
        dp.agent = await gateway.start('agent');
      },
      async killAgent() {
        await gateway.kill('agent');
        dp.agent = undefined;
      },
      async loadGuard() {
        await lab.exec(gw, [GUARD_LOADER]);
      },
      nft: (...args) => lab.exec(gw, ['nft', ...args], { reject: false }),
      async setElements(name) {
        const r = await dp.nft('-j', 'list', 'set', 'inet', 'pgw', name);
        if (r.exitCode !== 0) return null;
        const item = (JSON.parse(r.stdout).nftables as Record<string, { elem?: unknown[] }>[]).find((i) => i.set || i.map);
        const set = item?.set ?? item?.map;
        return (set?.elem ?? []).map((e) => (Array.isArray(e) ? e.join(' : ') : typeof e === 'object' ? JSON.stringify(e) : String(e))).sort();
      },
      async waitFor(what, check, timeoutMs = 10_000) {
        const started = Date.now();
        await waitFor(what, timeoutMs, check, { intervalMs: 25 });
        return Date.now() - started;
      },
      addProxy: (index, status) => gateway.seedProxy(lab.proxies[index]!, { name: `lab-${index}-${++proxySeq}`, status }),
      async addMapping(clientIp, proxyId, port, enabled = true) {
        const id = await gateway.seedMapping(clientIp, proxyId, port, enabled);
        // A hostile description: it must never reach the ruleset (it cannot: only typed values do).
        await tdb.db.updateTable('mappings').set({ description: `e2e "${clientIp}"; } flush ruleset\n` }).where('id', '=', id).execute();
        return id;
      },
      setProxyStatus: (proxyId, status, publish = true) => gateway.setProxyStatus(proxyId, status, publish),
      async startPortListeners(ports) {
        await lab.spawn(gw, ['node', '-e', PORT_LISTENER, ...ports.map(String)], { name: 'forwarder-port-stand-in', uid: 'pgw' });
      },
      async startListenersAs(uid, ports, name, host = '127.0.0.1') {
        const proc = await lab.spawn(gw, ['node', '-e', PORT_LISTENER, ...ports.map(String)], { name, uid, env: { LISTEN_HOST: host } });
        await waitFor(`${name} listening on ${ports.join(', ')}`, 10_000, async () => {
          const listening = (await lab.exec(gw, ['ss', '-Hltn'])).stdout;
          return ports.every((p) => listening.includes(`${host.includes(':') ? `[${host}]` : host}:${p} `));
        });
        return proc;
      },
      async startGatewayService(port) {
        await lab.spawn(gw, ['node', '-e', ANY_LISTENER, String(port)], { name: 'gateway-service' });
      },
      async captureWan() {
        const capture = await lab.capture({ ns: gw, iface: 'eth0' });
        return { stop: async () => analyzeWan(await capture.stop(), [...lab.clients, lab.description.lan.clientIp6], dp.proxyEndpoints) };
      },
      destroy,
    };
    return dp;
  } catch (error) {
    await destroy();
    throw error;
  }
}
