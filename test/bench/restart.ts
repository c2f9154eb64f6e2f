/**
 * Restart of each service alone (npm run bench:restart): with every pgw service running in a lab
 * and LAN clients opening a fresh connection each through their mapping all along, each service is
 * restarted as `systemctl restart` does it (SIGTERM, wait for the exit, start, wait for healthz).
 * Restarting agent, health or api must fail no client connection. The forwarder is restarted
 * gracefully and also SIGKILLed and started again ("forwarder-kill"): since the agent holds its
 * listening sockets, a restart must refuse no connection (and a graceful one reset none); the
 * refused and reset counts and how soon the new forwarder served (the first answer after its
 * spawn) are printed.
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
import { cleanupStaleLabs, createLab, type Capture, type Lab } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT, SERVICES, type ServiceName } from '../support/gateway.js';
import { forwarderMilestones, parseLog } from './ops-boot-timeline.js';
import { type ContinuousResult, type LanClientPlan, startContinuous, startUntilEffective } from './ops-lan-load.js';
import { machineLoad } from './ops-machine.js';

const FIRST_PORT = 20000;
const BEFORE_MS = 1000;
const AFTER_READY_MS = 1500;
/** forwarder-kill: SIGKILL, then start (a crash and systemd's restart, without its RestartSec). */
type Restart = ServiceName | 'forwarder-kill';
const RESTART_ORDER: Restart[] = ['agent', 'health', 'api', 'forwarder', 'forwarder-kill'];

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
  service: Restart;
  requests: number;
  failed: number;
  /** Connections refused (ECONNREFUSED) and reset (ECONNRESET). */
  refused: number;
  reset: number;
  /** Forwarder only: ms from the new process's spawn to the first answer completed after it. */
  servedAfterSpawnMs: number | null;
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

function analyse(service: Restart, result: ContinuousResult, termAt: number, clients: number, spawnedAt: number | null): Omit<RestartTrial, 'exitedMs' | 'healthzMs' | 'listenersOpenMs'> {
  const requests = result.requests.map((r) => ({ ...r, t: r.t - termAt }));
  const failed = requests.filter((r) => !r.ok);
  const errors: Record<string, number> = {};
  for (const r of failed) errors[r.error ?? 'unknown'] = (errors[r.error ?? 'unknown'] ?? 0) + 1;
  const served = spawnedAt === null ? [] : requests.filter((r) => r.ok && r.t + r.ms > spawnedAt).map((r) => r.t + r.ms - spawnedAt);
  const counts = { refused: errors.ECONNREFUSED ?? 0, reset: errors.ECONNRESET ?? 0, servedAfterSpawnMs: served.length > 0 ? round(Math.min(...served)) : null };
  if (failed.length === 0) return { service, requests: requests.length, failed: 0, ...counts, errors, firstFailureMs: null, lastFailureMs: null, allClientsBackMs: null };
  const first = Math.min(...failed.map((r) => r.t));
  const last = Math.max(...failed.map((r) => r.t));
  let back: number | null = 0;
  for (let c = 0; c < clients && back !== null; c++) {
    const ok = requests.filter((r) => r.client === c && r.ok && r.t > last).map((r) => r.t + r.ms);
    back = ok.length ? Math.max(back, Math.min(...ok)) : null;
  }
  return { service, requests: requests.length, failed: failed.length, ...counts, errors, firstFailureMs: round(first), lastFailureMs: round(last), allClientsBackMs: back === null ? null : round(back) };
}

async function restartOnce(lab: Lab, gateway: Gateway, plan: LanClientPlan[], restart: Restart): Promise<RestartTrial> {
  const service: ServiceName = restart === 'forwarder-kill' ? 'forwarder' : restart;
  // A connection waiting in the agent's socket while no forwarder accepts is slow, not failed.
  const load = await startContinuous({
    ns: lab.ns.lan, clients: plan, url: lab.description.internet.echoUrl, connectTimeoutMs: 5000, responseTimeoutMs: 8000, pauseMs: PAUSE_MS, maxRunMs: 40_000,
  });
  try {
    const goAt = Date.now();
    load.go();
    await sleep(BEFORE_MS);
    const termAt = Date.now();
    if (restart === 'forwarder-kill') await gateway.kill(service);
    else await gateway.stop(service);
    const exitedAt = Date.now();
    await gateway.start(service);
    const { readyAt, spawnedAt } = gateway.lastStart(service)!;
    await sleep(AFTER_READY_MS);
    load.stop();
    const result = await load.result;
    const listeners = service === 'forwarder'
      ? forwarderMilestones(parseLog(readFileSync(join(lab.dir, 'pgw-forwarder.log'), 'utf8'), exitedAt), termAt).listenersOpen?.atMs ?? null
      : null;
    return { ...analyse(restart, result, termAt - goAt, plan.length, service === 'forwarder' ? spawnedAt - termAt : null), exitedMs: exitedAt - termAt, healthzMs: readyAt - termAt, listenersOpenMs: listeners };
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
    refused: trials.reduce((n, t) => n + t.refused, 0),
    reset: trials.reduce((n, t) => n + t.reset, 0),
    /** The new forwarder's spawn until its first answer (worst trial). */
    maxServedAfterSpawnMs: maxOf((t) => t.servedAfterSpawnMs),
    maxExitedMs: maxOf((t) => t.exitedMs),
    maxHealthzMs: maxOf((t) => t.healthzMs),
    maxListenersOpenMs: maxOf((t) => t.listenersOpenMs),
    /** First to last failed connection. */
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
            `${t.servedAfterSpawnMs === null ? '' : `first answer ${t.servedAfterSpawnMs} ms after the new process was spawned; `}` +
          `${t.failed}/${t.requests} connections failed (${t.refused} refused, ${t.reset} reset)${t.failed ? ` (${errs}) from +${t.firstFailureMs} to +${t.lastFailureMs} ms, every client through again +${t.allClientsBackMs ?? 'never'} ms` : ''}`,
        );
      }
    }
    const leaked = await capture.stop();
    capture = undefined;
    if (leaked.length > 0) console.log(`LEAKED packets on eth0:\n${leaked.slice(0, 20).join('\n')}`);

    const summaries = Object.fromEntries(RESTART_ORDER.map((s) => [s, summarise(trials.filter((t) => t.service === s))])) as Record<Restart, ReturnType<typeof summarise>>;
    const cell = (v: number | null) => (v === null ? '-' : String(v)).padStart(10);
    console.log('');
    console.log('service        | failed/requests | refused | reset | exited ms | healthz ms | listeners | served after spawn ms | failure window ms | all back ms   (max over trials, from SIGTERM/SIGKILL)');
    for (const s of RESTART_ORDER) {
      const m = summaries[s];
      console.log(`${s.padEnd(14)} | ${`${m.failed}/${m.requests}`.padStart(15)} | ${String(m.refused).padStart(7)} | ${String(m.reset).padStart(5)} |${cell(m.maxExitedMs)} | ${cell(m.maxHealthzMs)} |${cell(m.maxListenersOpenMs)} | ${cell(m.maxServedAfterSpawnMs).padStart(21)} | ${cell(m.maxRefusedWindowMs).padStart(17)} |${cell(m.maxAllClientsBackMs)}`);
    }
    const quietOk = (['agent', 'health', 'api'] as const).every((s) => summaries[s].failed === 0);
    // The agent holds the forwarder's listening sockets: no restart refuses, a graceful one resets nothing either.
    const forwarderOk = summaries.forwarder.failed === 0 && summaries['forwarder-kill'].refused === 0;
    const pass = quietOk && forwarderOk && leaked.length === 0;
    console.log(`leaked packets on eth0: ${leaked.length} (positive control saw ${controlPackets})`);
    console.log(`agent, health, api restarts failed no connection: ${quietOk ? 'yes' : 'NO'}; forwarder restarts refused none (graceful: failed none): ${forwarderOk ? 'yes' : 'NO'}; ${pass ? 'PASS' : 'FAIL'}`);
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
