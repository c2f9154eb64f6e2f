/**
 * Reboot simulation (npm run bench:reboot): 256 mappings in a lab, then per trial everything a reboot
 * loses is lost — every pgw service killed, the gateway namespace's nft ruleset flushed, conntrack
 * emptied, route_localnet back to 0 — the guard reloaded as pgw-guard.service does at boot, and the
 * services started together. Measured: time from starting the services until every one of the 256
 * clients exits via its own proxy (the IP-echo server sees that proxy's address). 5 trials with
 * Postgres reachable, 5 with Postgres unreachable for the agent (it must enforce its cached policy).
 * Required <= 5000 ms, goal 2000 ms.
 *
 * Each trial also prints where the time goes, from the services' own log lines and the harness:
 * per service spawn -> healthz, the agent's cached apply and first Postgres run, the forwarder's
 * listeners, the clients' first successes, and the CPU each process used until all were effective.
 * The machine's load average is printed at start and end: other engineers' tests share the 2 cores.
 *
 * Usage: node --conditions=pgw-source --import tsx test/bench/reboot.ts
 *          [--trials 5] [--retry-first-ms 100] [--retry-max-ms 400] [--retry-jitter 0.2] [--proxies socks5,http,http-auth]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { cleanupStaleLabs, createLab, type Lab, type ProxyKind } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT, SERVICES, type ServiceName } from '../support/gateway.js';
import { type AgentMilestones, agentMilestones, firstMessageMs, type ForwarderMilestones, forwarderMilestones, parseLog } from './ops-boot-timeline.js';
import { describeRetry, type LanClientPlan, type RetrySchedule, startUntilEffective } from './ops-lan-load.js';
import { cpuMs, machineLoad, nodeCpuMs } from './ops-machine.js';

const CLIENTS = 256;
const REQUIRED_MS = 5000;
const GOAL_MS = 2000;
const MAX_TRIAL_MS = 20_000;
const FIRST_PORT = 20000;
const UNREACHABLE_DB = 'postgres://pgw_agent:unreachable@/pgw?host=/nonexistent-pgw-socket-dir';

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '5' },
    'retry-first-ms': { type: 'string', default: '100' },
    'retry-max-ms': { type: 'string', default: '400' },
    'retry-jitter': { type: 'string', default: '0.2' },
    proxies: { type: 'string', default: 'socks5,http,http-auth' },
  },
});
const TRIALS = positive('trials', args.trials);
const RETRY: RetrySchedule = { firstMs: positive('retry-first-ms', args['retry-first-ms']), maxMs: positive('retry-max-ms', args['retry-max-ms']), jitter: Number(args['retry-jitter']) };
if (RETRY.maxMs < RETRY.firstMs || !(RETRY.jitter >= 0 && RETRY.jitter < 1)) throw new Error('--retry-max-ms must be >= --retry-first-ms and --retry-jitter in [0, 1)');
const PROXIES = args.proxies.split(',') as ProxyKind[];
/**
 * Why dante with username auth (socks5-auth) is left out by default; printed with the results.
 * Measured: with it, its ~85 clients were still timing out after 20 s while health kept it up.
 */
const DANTE_AUTH_NOTE =
  'socks5-auth (dante, username method) is left out by default: dante checks every new connection against the system ' +
  'password database in its own processes on these same 2 cores; ~85 clients connecting at once kept it busy past 20 s ' +
  '(RESPONSE_TIMEOUT at the client, proxy still "up"), which measures dante in the lab, not the re-apply. Authenticated ' +
  'upstreams are covered by http-auth (tinyproxy Basic auth); run with --proxies socks5,socks5-auth,http to see it.';

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

interface Trial {
  allEffectiveMs: number | null;
  /** The latest start of a failed request: some mapping was not yet effective then. */
  lastFailureStartMs: number | null;
  firstClientMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  attempts: number;
  /** Per service: spawn and healthz answering, ms after the services were started. */
  spawnedMs: Record<ServiceName, number>;
  healthzMs: Record<ServiceName, number>;
  agent: AgentMilestones;
  forwarder: ForwarderMilestones;
  /** The forwarder's boot fast path, ms since its own process started ("cached desired state served", "first connection relayed"). */
  forwarderBoot: { served: Record<string, number> | null; firstRelayedMs: number | null };
  healthStartedMs: number | null;
  apiListeningMs: number | null;
  /** CPU ms each service and the LAN load generator used from their start until all were effective. */
  cpuMs: Record<ServiceName | 'lanLoad', number | null>;
  /** CPU ms each service had used when its healthz first answered (mostly loading its modules). */
  cpuAtHealthzMs: Record<ServiceName, number | null>;
  /** Up to 3 clients never effective, with their last error. */
  stragglers: string[];
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
const median = (values: (number | null)[]) => {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? percentile(known, 50) : null;
};

async function bootState(lab: Lab): Promise<void> {
  const gw = lab.ns.gateway;
  await lab.exec(gw, ['nft', 'flush', 'ruleset']);
  await lab.exec(gw, ['conntrack', '-F'], { reject: false }); // exits 1 when the table is already empty
  await lab.exec(gw, ['sysctl', '-qw', 'net.ipv4.conf.ens19.route_localnet=0']);
  await lab.exec(gw, ['sh', join(REPO_ROOT, 'guard/load-guard.sh')]);
}

function logSince(lab: Lab, service: ServiceName, origin: number) {
  return parseLog(readFileSync(join(lab.dir, `pgw-${service}.log`), 'utf8'), origin);
}

/**
 * The same 256 first requests with every service running and nothing restarted: what the lab's
 * proxies, the echo server and the load generator need for the burst alone, the floor under
 * every trial's "all effective" (a reboot cannot beat it).
 */
async function steadyBurst(lab: Lab, plan: LanClientPlan[]): Promise<{ allEffectiveMs: number | null; p50Ms: number | null; failures: number }> {
  const load = await startUntilEffective({
    ns: lab.ns.lan, clients: plan, url: lab.description.internet.echoUrl, connectTimeoutMs: 200, responseTimeoutMs: 3000, retry: RETRY, maxRunMs: MAX_TRIAL_MS,
  });
  try {
    load.go();
    const result = await load.result;
    const times = result.firstEffectiveMs.filter((t): t is number => t !== null);
    return {
      allEffectiveMs: times.length === plan.length ? Math.round(Math.max(...times)) : null,
      p50Ms: times.length ? Math.round(percentile(times, 50)) : null,
      failures: result.lastFailureStartMs.filter((t) => t !== null).length,
    };
  } finally {
    load.kill();
  }
}

async function trial(lab: Lab, gateway: Gateway, plan: LanClientPlan[], agentEnv: Record<string, string>): Promise<Trial> {
  for (const service of SERVICES) await gateway.kill(service);
  await bootState(lab);
  const load = await startUntilEffective({
    ns: lab.ns.lan, clients: plan, url: lab.description.internet.echoUrl, connectTimeoutMs: 200, responseTimeoutMs: 3000, retry: RETRY, maxRunMs: MAX_TRIAL_MS,
  });
  try {
    const lanCpuBefore = cpuMs(load.pid) ?? 0;
    const t0 = Date.now();
    load.go();
    const cpuAtHealthz = Object.fromEntries(SERVICES.map((s) => [s, null])) as Record<ServiceName, number | null>;
    const started = Promise.all(SERVICES.map(async (s) => (cpuAtHealthz[s] = nodeCpuMs((await gateway.start(s, s === 'agent' ? agentEnv : {})).pid))));
    started.catch(() => undefined); // awaited below; a failed start must not be an unhandled rejection meanwhile
    const result = await load.result;
    const lanCpu = cpuMs(load.pid);
    const serviceCpu = Object.fromEntries(SERVICES.map((s) => [s, (() => { const pid = gateway.process(s)?.pid; return pid === undefined ? null : nodeCpuMs(pid); })()]));
    await started;
    const times = result.firstEffectiveMs.filter((t): t is number => t !== null);
    const failures = result.lastFailureStartMs.filter((t): t is number => t !== null);
    const complete = times.length === plan.length;
    const at = (s: ServiceName, k: 'spawnedAt' | 'readyAt') => gateway.lastStart(s)![k] - t0;
    return {
      allEffectiveMs: complete ? Math.round(Math.max(...times)) : null,
      lastFailureStartMs: failures.length ? Math.round(Math.max(...failures)) : null,
      firstClientMs: times.length ? Math.round(Math.min(...times)) : null,
      p50Ms: times.length ? Math.round(percentile(times, 50)) : null,
      p90Ms: times.length ? Math.round(percentile(times, 90)) : null,
      attempts: result.attempts,
      spawnedMs: Object.fromEntries(SERVICES.map((s) => [s, at(s, 'spawnedAt')])) as Record<ServiceName, number>,
      healthzMs: Object.fromEntries(SERVICES.map((s) => [s, at(s, 'readyAt')])) as Record<ServiceName, number>,
      agent: agentMilestones(logSince(lab, 'agent', t0), t0),
      forwarder: forwarderMilestones(logSince(lab, 'forwarder', t0), t0),
      forwarderBoot: forwarderBoot(logSince(lab, 'forwarder', t0)),
      healthStartedMs: firstMessageMs(logSince(lab, 'health', t0), t0, 'health service started'),
      apiListeningMs: firstMessageMs(logSince(lab, 'api', t0), t0, 'listening'),
      cpuMs: { ...(serviceCpu as Record<ServiceName, number | null>), lanLoad: lanCpu === null ? null : lanCpu - lanCpuBefore },
      cpuAtHealthzMs: cpuAtHealthz,
      stragglers: plan.flatMap((c, i) => (result.firstEffectiveMs[i] === null ? [`${c.ip}: ${result.lastError[i]}`] : [])).slice(0, 3),
    };
  } finally {
    load.kill();
  }
}

function forwarderBoot(entries: ReturnType<typeof logSince>): Trial['forwarderBoot'] {
  const served = entries.find((e) => e.message === 'cached desired state served')?.fields.msSinceProcessStart;
  const relayed = entries.find((e) => e.message === 'first connection relayed')?.fields.msSinceProcessStart;
  return { served: typeof served === 'object' && served !== null ? (served as Record<string, number>) : null, firstRelayedMs: typeof relayed === 'number' ? relayed : null };
}

function printTrial(label: string, t: Trial): void {
  const ms = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${v}`);
  console.log(
    `${label}: all ${CLIENTS} effective ${t.allEffectiveMs ?? `NOT within ${MAX_TRIAL_MS}`} ms ` +
      `(latest failed request started ${ms(t.lastFailureStartMs)} ms; first client ${ms(t.firstClientMs)}, p50 ${ms(t.p50Ms)}, p90 ${ms(t.p90Ms)}; ${t.attempts} requests)`,
  );
  console.log(
    `    agent: spawned +${t.spawnedMs.agent}, state file enforced (boot fast path) ${ms(t.agent.bootEnforcedMs)}, re-applied by the full agent ${ms(t.agent.cachedApplied?.atMs)} (run ${ms(t.agent.cachedApplied?.runMs)} ms), ` +
      `healthz ${t.healthzMs.agent}, first Postgres run ${ms(t.agent.firstPostgresRun?.atMs)} ${t.agent.firstPostgresRun?.outcome ?? ''}`,
  );
  console.log(
    `    forwarder: spawned +${t.spawnedMs.forwarder}, ${t.forwarder.listenersOpen?.opened ?? 0} listeners open ${ms(t.forwarder.listenersOpen?.atMs)}, ` +
      `ready ${ms(t.forwarder.readyMs)}, healthz ${t.healthzMs.forwarder}`,
  );
  const boot = t.forwarderBoot.served;
  if (boot) {
    console.log(
      `    forwarder boot, ms since its process started: node ${boot.node}, modules loaded ${boot.modules}, config ${boot.config}, cache read ${boot.cacheRead}, ` +
        `agent connected ${ms(boot.agentConnected)}, sockets ${ms(boot.sockets)}, listening ${ms(boot.listening)}, first connection relayed ${ms(t.forwarderBoot.firstRelayedMs)}`,
    );
  }
  console.log(`    health: started ${ms(t.healthStartedMs)}, healthz ${t.healthzMs.health}; api: listening ${ms(t.apiListeningMs)}, healthz ${t.healthzMs.api}`);
  console.log(`    CPU ms until all effective: ${Object.entries(t.cpuMs).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}`);
  console.log(`    CPU ms at healthz: ${Object.entries(t.cpuAtHealthzMs).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}`);
  if (t.stragglers.length) console.log(`    never effective (first 3): ${t.stragglers.join('; ')}`);
}

function summary(ts: Trial[]) {
  const maxOf = (f: (t: Trial) => number | null) => (ts.some((t) => f(t) === null) ? null : Math.max(...ts.map((t) => f(t)!)));
  return {
    allEffectiveMs: ts.map((t) => t.allEffectiveMs),
    maxMs: maxOf((t) => t.allEffectiveMs),
    medianMs: median(ts.map((t) => t.allEffectiveMs)),
    median: {
      lastFailureStartMs: median(ts.map((t) => t.lastFailureStartMs)),
      firstClientMs: median(ts.map((t) => t.firstClientMs)),
      p50ClientMs: median(ts.map((t) => t.p50Ms)),
      agentBootEnforcedMs: median(ts.map((t) => t.agent.bootEnforcedMs)),
      agentCachedAppliedMs: median(ts.map((t) => t.agent.cachedApplied?.atMs ?? null)),
      agentFirstPostgresRunMs: median(ts.map((t) => t.agent.firstPostgresRun?.atMs ?? null)),
      forwarderListenersOpenMs: median(ts.map((t) => t.forwarder.listenersOpen?.atMs ?? null)),
      forwarderBootMs: Object.fromEntries(['node', 'modules', 'config', 'cacheRead', 'agentConnected', 'sockets', 'listening'].map((k) => [k, median(ts.map((t) => t.forwarderBoot.served?.[k] ?? null))])),
      forwarderFirstRelayedMs: median(ts.map((t) => t.forwarderBoot.firstRelayedMs)),
      healthzMs: Object.fromEntries(SERVICES.map((s) => [s, median(ts.map((t) => t.healthzMs[s]))])),
      cpuMs: Object.fromEntries([...SERVICES, 'lanLoad' as const].map((s) => [s, median(ts.map((t) => t.cpuMs[s]))])),
      cpuAtHealthzMs: Object.fromEntries(SERVICES.map((s) => [s, median(ts.map((t) => t.cpuAtHealthzMs[s]))])),
      requests: median(ts.map((t) => t.attempts)),
    },
  };
}

async function main(): Promise<void> {
  const loadAtStart = machineLoad();
  console.log(`machine at start: ${loadAtStart}`);
  console.log(
    `client retry: ${describeRetry(RETRY)} after a failed request. Real LAN clients back off too (the kernel resends a dropped SYN ` +
      `after 1 s, then 3 s); a 256-client loop at a fixed 100 ms is up to 2560 connections/s from one Node process, CPU taken ` +
      `from the services it waits for on 2 cores. The ${RETRY.maxMs} ms cap bounds how late a client notices its mapping; ` +
      `each trial prints the latest failed request's start as the lower bound.`,
  );
  console.log(`proxies: ${PROXIES.join(', ')} (clients assigned round robin)`);
  if (!PROXIES.includes('socks5-auth')) console.log(DANTE_AUTH_NOTE);
  await cleanupStaleLabs();
  const lab = await createLab({ clients: CLIENTS, proxies: PROXIES });
  let database: TestDatabase | undefined;
  let gateway: Gateway | undefined;
  try {
    database = await createTestDatabase();
    gateway = new Gateway(lab, database);
    await database.db.updateTable('settings').set({ checkUrl: lab.description.internet.echoUrl }).where('id', '=', 1).execute();
    const plan: LanClientPlan[] = await gateway.seedAllClients(FIRST_PORT);

    // Before the first "reboot": the services have run once, so the agent has its state file.
    const warm = await trial(lab, gateway, plan, {});
    printTrial('warm-up (no state file yet)', warm);
    if (warm.allEffectiveMs === null) {
      const proxies = await database.db.selectFrom('proxies').select(['id', 'host', 'status', 'lastError']).execute();
      throw new Error(`warm-up: not every mapping became effective (${warm.stragglers.join('; ')}); proxies: ${JSON.stringify(proxies)}`);
    }
    await sleep(1000);
    const steady = await steadyBurst(lab, plan);
    console.log(`steady burst (services running, nothing restarted; the floor under every trial): all 256 effective ${steady.allEffectiveMs ?? 'incomplete'} ms, p50 ${steady.p50Ms} ms, ${steady.failures} clients failed first`);

    const results: Record<'postgresUp' | 'postgresUnreachableForAgent', Trial[]> = { postgresUp: [], postgresUnreachableForAgent: [] };
    for (const [variant, env] of [['postgresUp', {}], ['postgresUnreachableForAgent', { PGW_DATABASE_URL: UNREACHABLE_DB }]] as const) {
      for (let n = 1; n <= TRIALS; n++) {
        const t = await trial(lab, gateway, plan, env);
        results[variant].push(t);
        printTrial(`${variant} trial ${n}`, t);
        await sleep(200);
      }
    }
    const all = [...results.postgresUp, ...results.postgresUnreachableForAgent];
    const worst = all.some((t) => t.allEffectiveMs === null) ? null : Math.max(...all.map((t) => t.allEffectiveMs!));
    const pass = worst !== null && worst <= REQUIRED_MS;
    const loadAtEnd = machineLoad();
    console.log(`worst: ${worst ?? 'incomplete'} ms (required <= ${REQUIRED_MS}, goal ${GOAL_MS}): ${pass ? 'PASS' : 'FAIL'}`);
    console.log(`machine at end: ${loadAtEnd}`);
    console.log(JSON.stringify({
      bench: 'reboot', mappings: CLIENTS, trials: TRIALS, requiredMs: REQUIRED_MS, goalMs: GOAL_MS, proxies: PROXIES, retry: RETRY,
      loadAtStart, loadAtEnd, warmUpMs: warm.allEffectiveMs, steadyBurstMs: steady.allEffectiveMs,
      postgresUp: summary(results.postgresUp), postgresUnreachableForAgent: summary(results.postgresUnreachableForAgent),
      worstMs: worst, goalMet: worst !== null && worst <= GOAL_MS, pass,
    }));
    if (!pass) process.exitCode = 1;
  } finally {
    await gateway?.destroy();
    await database?.drop();
    await lab.destroy();
  }
}

await main();
