/**
 * Restart of each service alone (npm run bench:restart): with every pgw service running in a lab
 * and LAN clients opening a fresh connection each through their mapping all along, each service is
 * restarted as `systemctl restart` does it (SIGTERM, wait for the exit, start, wait for healthz).
 * Restarting agent, health or api must fail no client connection; the forwarder's gap (first to
 * last refused connection, and until every client is through again) is measured and printed.
 * tcpdump on the gateway's eth0 watches the whole run for any packet from or to a LAN client or
 * straight to the echo host, after a positive control proves it sees them when nothing enforces.
 * Prints a table, then one JSON line.
 *
 * Usage: node --conditions=pgw-source --import tsx test/bench/restart.ts [--trials 3] [--clients 12] [--pause-ms 100]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { cleanupStaleLabs, createLab, type Capture, type Lab } from '../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT, SERVICES, type ServiceName } from '../support/gateway.js';
import { forwarderMilestones, parseLog } from './ops-boot-timeline.js';
import { type ContinuousResult, type LanClientPlan, startContinuous, startUntilEffective } from './ops-lan-load.js';
import { machineLoad } from './ops-machine.js';

const FIRST_PORT = 20000;
const BEFORE_MS = 1000;
const AFTER_READY_MS = 1500;
const RESTART_ORDER: ServiceName[] = ['agent', 'health', 'api', 'forwarder'];

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '3' },
    clients: { type: 'string', default: '12' },
    'pause-ms': { type: 'string', default: '100' },
  },
});
const TRIALS = positive('trials', args.trials);
const CLIENTS = positive('clients', args.clients);
const PAUSE_MS = positive('pause-ms', args['pause-ms']);

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

interface RestartTrial {
  service: ServiceName;
  requests: number;
  failed: number;
  /** Failures by error (ECONNREFUSED, RESPONSE_TIMEOUT, "exit <ip>", ...). */
  errors: Record<string, number>;
  /** All times in ms after SIGTERM. */
  exitedMs: number;
  healthzMs: number;
  /** Forwarder only: its listeners open again (from its log). */
  listenersOpenMs: number | null;
  /** Start of the first and last failed request; null when none failed. */
  firstFailureMs: number | null;
  lastFailureMs: number | null;
  /** Every client had a successful request starting after the last failure by then (null: none failed). */
  allClientsBackMs: number | null;
}

const round = (v: number) => Math.round(v);

function analyse(service: ServiceName, result: ContinuousResult, termAt: number, clients: number): Omit<RestartTrial, 'exitedMs' | 'healthzMs' | 'listenersOpenMs'> {
  const requests = result.requests.map((r) => ({ ...r, t: r.t - termAt }));
  const failed = requests.filter((r) => !r.ok);
  const errors: Record<string, number> = {};
  for (const r of failed) errors[r.error ?? 'unknown'] = (errors[r.error ?? 'unknown'] ?? 0) + 1;
  if (failed.length === 0) return { service, requests: requests.length, failed: 0, errors, firstFailureMs: null, lastFailureMs: null, allClientsBackMs: null };
  const first = Math.min(...failed.map((r) => r.t));
  const last = Math.max(...failed.map((r) => r.t));
  let back: number | null = 0;
  for (let c = 0; c < clients && back !== null; c++) {
    const ok = requests.filter((r) => r.client === c && r.ok && r.t > last).map((r) => r.t + r.ms);
    back = ok.length ? Math.max(back, Math.min(...ok)) : null;
  }
  return { service, requests: requests.length, failed: failed.length, errors, firstFailureMs: round(first), lastFailureMs: round(last), allClientsBackMs: back === null ? null : round(back) };
}

async function restartOnce(lab: Lab, gateway: Gateway, plan: LanClientPlan[], service: ServiceName): Promise<RestartTrial> {
  const load = await startContinuous({
    ns: lab.ns.lan, clients: plan, url: lab.description.internet.echoUrl, connectTimeoutMs: 1000, responseTimeoutMs: 3000, pauseMs: PAUSE_MS, maxRunMs: 30_000,
  });
  try {
    const goAt = Date.now();
    load.go();
    await sleep(BEFORE_MS);
    const termAt = Date.now();
    await gateway.stop(service);
    const exitedAt = Date.now();
    await gateway.start(service);
    const readyAt = gateway.lastStart(service)!.readyAt;
    await sleep(AFTER_READY_MS);
    load.stop();
    const result = await load.result;
    const listeners = service === 'forwarder'
      ? forwarderMilestones(parseLog(readFileSync(join(lab.dir, 'pgw-forwarder.log'), 'utf8'), exitedAt), termAt).listenersOpen?.atMs ?? null
      : null;
    return { ...analyse(service, result, termAt - goAt, plan.length), exitedMs: exitedAt - termAt, healthzMs: readyAt - termAt, listenersOpenMs: listeners };
  } finally {
    load.kill();
  }
}

function summarise(trials: RestartTrial[]) {
  const maxOf = (f: (t: RestartTrial) => number | null) => {
    const v = trials.map(f).filter((x): x is number => x !== null);
    return v.length ? Math.max(...v) : null;
  };
  return {
    trials: trials.length,
    requests: trials.reduce((n, t) => n + t.requests, 0),
    failed: trials.reduce((n, t) => n + t.failed, 0),
    maxExitedMs: maxOf((t) => t.exitedMs),
    maxHealthzMs: maxOf((t) => t.healthzMs),
    maxListenersOpenMs: maxOf((t) => t.listenersOpenMs),
    /** First to last refused connection. */
    maxRefusedWindowMs: maxOf((t) => (t.firstFailureMs === null ? null : t.lastFailureMs! - t.firstFailureMs)),
    /** SIGTERM until every client is through again. */
    maxAllClientsBackMs: maxOf((t) => t.allClientsBackMs),
  };
}

async function main(): Promise<void> {
  const loadAtStart = machineLoad();
  console.log(`machine at start: ${loadAtStart}`);
  console.log(`${CLIENTS} LAN clients, each opening a fresh connection through its mapping every ${PAUSE_MS} ms; ${TRIALS} restarts per service (SIGTERM, exit, start, healthz)`);
  await cleanupStaleLabs();
  // Every proxy kind the forwarder dials; few clients, so dante's per-connection PAM check keeps up.
  const lab = await createLab({ clients: CLIENTS, proxies: ['socks5', 'socks5-auth', 'http', 'http-auth'] });
  let database: TestDatabase | undefined;
  let gateway: Gateway | undefined;
  let capture: Capture | undefined;
  try {
    database = await createTestDatabase();
    gateway = new Gateway(lab, database);
    const echoUrl = lab.description.internet.echoUrl;
    await database.db.updateTable('settings').set({ checkUrl: echoUrl }).where('id', '=', 1).execute();

    // Positive control: with nothing enforcing, a client's packets are seen on eth0 by this filter.
    const leakFilter = `net 192.168.2.0/24 or host ${lab.description.internet.ip}`;
    const control = await lab.capture({ ns: lab.ns.gateway, iface: 'eth0', filter: leakFilter });
    await lab.httpGet({ ns: lab.ns.lan, url: echoUrl, sourceIp: lab.clients[0], timeoutMs: 2000 });
    const controlPackets = (await control.stop()).length;
    if (controlPackets === 0) throw new Error('positive control failed: tcpdump on eth0 saw no client packet without enforcement, so 0 leaks below would prove nothing');
    console.log(`positive control: ${controlPackets} client packets on eth0 with no enforcement (filter: ${leakFilter})`);

    const plan: LanClientPlan[] = await gateway.seedAllClients(FIRST_PORT);
    capture = await lab.capture({ ns: lab.ns.gateway, iface: 'eth0', filter: leakFilter });
    await lab.exec(lab.ns.gateway, ['sh', join(REPO_ROOT, 'guard/load-guard.sh')]);
    for (const service of SERVICES) await gateway.start(service);
    const warm = await startUntilEffective({
      ns: lab.ns.lan, clients: plan, url: echoUrl, connectTimeoutMs: 500, responseTimeoutMs: 3000, retry: { firstMs: 100, maxMs: 400, jitter: 0.2 }, maxRunMs: 15_000,
    });
    warm.go();
    const warmResult = await warm.result;
    warm.kill();
    if (warmResult.firstEffectiveMs.some((t) => t === null)) throw new Error(`not every client is effective before the restarts: ${warmResult.lastError.filter(Boolean).slice(0, 3).join('; ')}`);
    console.log(`all ${CLIENTS} clients effective; restarting ${RESTART_ORDER.join(', ')}`);

    const trials: RestartTrial[] = [];
    for (const service of RESTART_ORDER) {
      for (let n = 1; n <= TRIALS; n++) {
        const t = await restartOnce(lab, gateway, plan, service);
        trials.push(t);
        const errs = Object.entries(t.errors).map(([e, c]) => `${e} x${c}`).join(', ');
        console.log(
          `${service} #${n}: exited +${t.exitedMs} ms, healthz +${t.healthzMs} ms${t.listenersOpenMs === null ? '' : `, listeners +${t.listenersOpenMs} ms`}; ` +
            `${t.failed}/${t.requests} connections failed${t.failed ? ` (${errs}) from +${t.firstFailureMs} to +${t.lastFailureMs} ms, every client through again +${t.allClientsBackMs ?? 'never'} ms` : ''}`,
        );
      }
    }
    const leaked = await capture.stop();
    capture = undefined;
    if (leaked.length > 0) console.log(`LEAKED packets on eth0:\n${leaked.slice(0, 20).join('\n')}`);

    const summaries = Object.fromEntries(RESTART_ORDER.map((s) => [s, summarise(trials.filter((t) => t.service === s))])) as Record<ServiceName, ReturnType<typeof summarise>>;
    const cell = (v: number | null) => (v === null ? '-' : String(v)).padStart(10);
    console.log('');
    console.log('service    | failed/requests | exited ms | healthz ms | listeners | refused window ms | all back ms   (max over trials, from SIGTERM)');
    for (const s of RESTART_ORDER) {
      const m = summaries[s];
      console.log(`${s.padEnd(10)} | ${`${m.failed}/${m.requests}`.padStart(15)} |${cell(m.maxExitedMs)} | ${cell(m.maxHealthzMs)} |${cell(m.maxListenersOpenMs)} | ${cell(m.maxRefusedWindowMs).padStart(17)} |${cell(m.maxAllClientsBackMs)}`);
    }
    const quietOk = (['agent', 'health', 'api'] as const).every((s) => summaries[s].failed === 0);
    const pass = quietOk && leaked.length === 0;
    console.log(`leaked packets on eth0: ${leaked.length} (positive control saw ${controlPackets})`);
    console.log(`agent, health, api restarts failed no connection: ${quietOk ? 'yes' : 'NO'}; ${pass ? 'PASS' : 'FAIL'}`);
    const loadAtEnd = machineLoad();
    console.log(`machine at end: ${loadAtEnd}; the bench's own LAN load: ${CLIENTS} clients every ${PAUSE_MS} ms`);
    console.log(JSON.stringify({
      bench: 'restart', clients: CLIENTS, pauseMs: PAUSE_MS, trialsPerService: TRIALS, loadAtStart, loadAtEnd,
      services: summaries, leakedPackets: leaked.length, positiveControlPackets: controlPackets, pass,
    }));
    if (!pass) process.exitCode = 1;
  } finally {
    await capture?.stop().catch(() => undefined);
    await gateway?.destroy();
    await database?.drop();
    await lab.destroy();
  }
}

await main();
