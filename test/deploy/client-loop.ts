/**
 * What a LAN client sees while a deployed service restarts or the machine boots.
 * restartUnderClients (as bench:restart, test/bench/restart.ts, measures it in the lab): the
 * effective client opens a fresh connection through its proxy every PAUSE_MS from before the
 * restart until every mapping is in force again, with tcpdump on the gateway's eth0 all along. Its
 * figures: connections failed/total (by error) and the longest gap, the longest time between two
 * successful connections' answers (a run with no failure has a gap of about one connection plus
 * PAUSE_MS). firstAnswerAfter: when the effective client's first connection through its proxy was
 * answered after a boot.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WanAnalysis } from '../e2e/dataplane-harness.js';
import { startContinuous, startUntilEffective, type StreamedRequest } from '../bench/ops-lan-load.js';
import { type DeployLab, EFFECTIVE, mappingsEffective } from './deploy-lab.js';
import { monoNowUs } from './systemd-machine.js';

const PAUSE_MS = 50;
/** Connections before the restart starts and after the mappings are in force again. */
const MARGIN_MS = 500;

export interface RestartClientFigures {
  total: number;
  failed: number;
  /** ECONNREFUSED, ECONNRESET, CONNECT_TIMEOUT, RESPONSE_TIMEOUT, 'status 200 exit <ip>' (exited elsewhere), ... */
  errors: Record<string, number>;
  longestGapMs: number;
}

export function clientFigures(requests: readonly StreamedRequest[]): RestartClientFigures {
  const errors: Record<string, number> = {};
  for (const r of requests.filter((q) => !q.ok)) errors[r.error ?? 'unknown'] = (errors[r.error ?? 'unknown'] ?? 0) + 1;
  const answered = requests.filter((r) => r.ok).map((r) => r.end).sort((a, b) => a - b);
  let longestGapMs = 0;
  for (let i = 1; i < answered.length; i++) longestGapMs = Math.max(longestGapMs, answered[i]! - answered[i - 1]!);
  return { total: requests.length, failed: requests.filter((r) => !r.ok).length, errors, longestGapMs };
}

export const describeFigures = (f: RestartClientFigures) =>
  `${f.failed}/${f.total} connections failed${f.failed ? ` (${Object.entries(f.errors).map(([e, n]) => `${e} x${n}`).join(', ')})` : ''}, longest gap ${f.longestGapMs} ms`;

/**
 * Runs `restart` while the effective client loops, and waits until every mapping is in force again
 * (the time returned, from the restart's start); what the client saw and what crossed eth0.
 */
export async function restartUnderClients(target: DeployLab, restart: () => Promise<void>): Promise<{ figures: RestartClientFigures; wan: WanAnalysis; ms: number }> {
  const { lab, probes } = target;
  const requests: StreamedRequest[] = [];
  // A SYN dropped while the agent is down (route_localnet off) is retried by the kernel after 1 s:
  // slow, then answered or abandoned, and so counted in the gap either way.
  const load = await startContinuous({
    ns: lab.ns.lan, clients: [{ ip: EFFECTIVE, expectedExitIp: lab.proxies[0]!.ip }], url: lab.description.internet.echoUrl,
    connectTimeoutMs: 3000, responseTimeoutMs: 5000, pauseMs: PAUSE_MS, maxRunMs: 90_000,
  }, (r) => requests.push(r));
  try {
    const { result: ms, wan } = await probes.onWan(async () => {
      load.go();
      await sleep(MARGIN_MS);
      const started = Date.now();
      await restart();
      await mappingsEffective(target, 60_000);
      const inForce = Date.now() - started;
      await sleep(MARGIN_MS);
      load.stop();
      await load.result;
      return inForce;
    });
    return { figures: clientFigures(requests), wan, ms };
  } finally {
    load.kill();
  }
}

/**
 * Runs `boot` while the effective client opens a fresh connection every 20 ms, each abandoned when
 * not established within 150 ms (a SYN dropped while no rule is in force yet): CLOCK_MONOTONIC µs
 * (systemd's clock, see systemd-machine.ts) when its first connection through its proxy was answered.
 */
export async function firstAnswerAfter(target: DeployLab, boot: () => Promise<void>, maxRunMs = 60_000): Promise<number> {
  const { lab } = target;
  const load = await startUntilEffective({
    ns: lab.ns.lan, clients: [{ ip: EFFECTIVE, expectedExitIp: lab.proxies[0]!.ip }], url: lab.description.internet.echoUrl,
    connectTimeoutMs: 150, responseTimeoutMs: 5000, retry: { firstMs: 20, maxMs: 20, jitter: 0 }, maxRunMs,
  });
  try {
    const go = monoNowUs();
    load.go();
    await boot();
    const result = await load.result;
    const first = result.firstEffectiveMs[0];
    if (first === null || first === undefined) throw new Error(`the effective client was not answered through its proxy within ${maxRunMs} ms (last error: ${result.lastError[0]})`);
    return go + Math.round(first * 1000);
  } finally {
    load.kill();
  }
}
