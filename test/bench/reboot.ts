/**
 * Reboot simulation (npm run bench:reboot): 256 mappings in a lab, then per trial everything a reboot
 * loses is lost — every pgw service killed, the gateway namespace's nft ruleset flushed, conntrack
 * emptied, route_localnet back to 0 — the guard reloaded as pgw-guard.service does at boot, and the
 * services started together. Measured: time from starting the services until every one of the 256
 * clients exits via its own proxy (the IP-echo server sees that proxy's address). 5 trials with
 * Postgres reachable, 5 with Postgres unreachable for the agent (it must enforce its cached policy).
 * Required <= 5000 ms, goal 2000 ms. Prints per-trial figures, then one JSON line.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { cleanupStaleLabs, createLab, type Lab } from '../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT, SERVICES } from '../support/gateway.js';
import { type LanClientPlan, startUntilEffective } from './ops-lan-load.js';

const CLIENTS = 256;
const TRIALS = 5;
const REQUIRED_MS = 5000;
const GOAL_MS = 2000;
const MAX_TRIAL_MS = 20_000;
const FIRST_PORT = 20000;
/**
 * No dante with username auth: a burst of ~85 simultaneous first connections makes its
 * per-connection PAM check slow enough that the health service marks it down (fail closed), which
 * measures dante's capacity, not the re-apply.
 */
const PROXIES = ['socks5', 'http'] as const;
const UNREACHABLE_DB = 'postgres://pgw_agent:unreachable@/pgw?host=/nonexistent-pgw-socket-dir';

interface Trial {
  allEffectiveMs: number | null;
  p50Ms: number | null;
  servicesReadyMs: number;
  attempts: number;
  /** Up to 3 clients never effective, with their last error. */
  stragglers: string[];
}

const percentile = (values: number[], p: number) => values.sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;

async function bootState(lab: Lab): Promise<void> {
  const gw = lab.ns.gateway;
  await lab.exec(gw, ['nft', 'flush', 'ruleset']);
  await lab.exec(gw, ['conntrack', '-F'], { reject: false }); // exits 1 when the table is already empty
  await lab.exec(gw, ['sysctl', '-qw', 'net.ipv4.conf.ens19.route_localnet=0']);
  await lab.exec(gw, ['sh', join(REPO_ROOT, 'guard/load-guard.sh')]);
}

async function trial(lab: Lab, gateway: Gateway, plan: LanClientPlan[], agentEnv: Record<string, string>): Promise<Trial> {
  for (const service of SERVICES) await gateway.kill(service);
  await bootState(lab);
  const load = await startUntilEffective({
    ns: lab.ns.lan, clients: plan, url: lab.description.internet.echoUrl, connectTimeoutMs: 200, responseTimeoutMs: 3000, pauseMs: 100, maxRunMs: MAX_TRIAL_MS,
  });
  try {
    const t0 = performance.now();
    load.go();
    await Promise.all(SERVICES.map((s) => gateway.start(s, s === 'agent' ? agentEnv : {})));
    const servicesReadyMs = performance.now() - t0;
    const result = await load.result;
    const times = result.firstEffectiveMs.filter((t): t is number => t !== null);
    const complete = times.length === plan.length;
    return {
      allEffectiveMs: complete ? Math.round(Math.max(...times)) : null,
      p50Ms: times.length ? Math.round(percentile(times, 50)) : null,
      servicesReadyMs: Math.round(servicesReadyMs),
      attempts: result.attempts,
      stragglers: plan.flatMap((c, i) => (result.firstEffectiveMs[i] === null ? [`${c.ip}: ${result.lastError[i]}`] : [])).slice(0, 3),
    };
  } finally {
    load.kill();
  }
}

async function main(): Promise<void> {
  await cleanupStaleLabs();
  const lab = await createLab({ clients: CLIENTS, proxies: PROXIES });
  let database: TestDatabase | undefined;
  let gateway: Gateway | undefined;
  try {
    database = await createTestDatabase();
    gateway = new Gateway(lab, database);
    await database.db.updateTable('settings').set({ checkUrl: lab.description.internet.echoUrl }).where('id', '=', 1).execute();
    const proxyIds = [];
    for (const proxy of lab.proxies) proxyIds.push(await gateway.seedProxy(proxy, { status: 'up' }));
    const plan: LanClientPlan[] = [];
    for (const [i, ip] of lab.clients.entries()) {
      await gateway.seedMapping(ip, proxyIds[i % proxyIds.length]!, FIRST_PORT + i);
      plan.push({ ip, expectedExitIp: lab.proxies[i % lab.proxies.length]!.ip });
    }

    // Before the first "reboot": the services have run once, so the agent has its state file.
    const warm = await trial(lab, gateway, plan, {});
    if (warm.allEffectiveMs === null) {
      const proxies = await database.db.selectFrom('proxies').select(['id', 'host', 'status', 'lastError']).execute();
      throw new Error(`warm-up: not every mapping became effective (${warm.stragglers.join('; ')}); proxies: ${JSON.stringify(proxies)}`);
    }
    console.log(`warm-up: all ${CLIENTS} mappings effective after ${warm.allEffectiveMs} ms`);

    const results: Record<'postgresUp' | 'postgresUnreachableForAgent', Trial[]> = { postgresUp: [], postgresUnreachableForAgent: [] };
    for (const [variant, env] of [['postgresUp', {}], ['postgresUnreachableForAgent', { PGW_DATABASE_URL: UNREACHABLE_DB }]] as const) {
      for (let n = 1; n <= TRIALS; n++) {
        const t = await trial(lab, gateway, plan, env);
        results[variant].push(t);
        console.log(
          `${variant} trial ${n}: all ${CLIENTS} effective ${t.allEffectiveMs ?? 'NOT within ' + MAX_TRIAL_MS} ms ` +
            `(p50 client ${t.p50Ms} ms, services ready ${t.servicesReadyMs} ms, ${t.attempts} attempts)`,
        );
        await sleep(200);
      }
    }
    const all = [...results.postgresUp, ...results.postgresUnreachableForAgent];
    const worst = all.some((t) => t.allEffectiveMs === null) ? null : Math.max(...all.map((t) => t.allEffectiveMs!));
    const summary = (ts: Trial[]) => ({
      allEffectiveMs: ts.map((t) => t.allEffectiveMs),
      servicesReadyMs: ts.map((t) => t.servicesReadyMs),
      maxMs: ts.some((t) => t.allEffectiveMs === null) ? null : Math.max(...ts.map((t) => t.allEffectiveMs!)),
    });
    const pass = worst !== null && worst <= REQUIRED_MS;
    console.log(`worst: ${worst ?? 'incomplete'} ms (required <= ${REQUIRED_MS}, goal ${GOAL_MS}): ${pass ? 'PASS' : 'FAIL'}`);
    console.log(JSON.stringify({
      bench: 'reboot', mappings: CLIENTS, trials: TRIALS, requiredMs: REQUIRED_MS, goalMs: GOAL_MS,
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
