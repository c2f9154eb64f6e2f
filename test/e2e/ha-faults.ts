/**
 * The faults of an HA pair's master (issue 18) and what a client sees through each, shared by
 * test/e2e/ha-failover.test.ts and `npm run bench:failover`. Node a is the preferred master.
 */
import { execIn } from '../../lab/index.js';
import { type HaPair, longestGap, PREEMPT_DELAY_S, type ProbeSample, waitMaster } from './ha-harness.js';

export interface HaFault {
  name: string;
  inject(pair: HaPair): Promise<void>;
  /** Undefined when the node does not come back (power loss). */
  repair?: (pair: HaPair) => Promise<void>;
}

export interface FaultResult {
  fault: string;
  /** From the fault until a client's new connection exits from its own proxy through node b. */
  failoverMs: number | undefined;
  /** The longest time the client had no successful new connection after the fault. */
  outageMs: number;
  /** From the repair until the client is served through node a again (includes the hold-down). */
  failbackMs?: number | undefined;
  /** The longest time without a successful new connection during failback. */
  failbackOutageMs?: number;
  /** From the fault until the api (GET /api/v1/nodes) names node b master with no conflict. */
  recordedMs: number | undefined;
  /** From the repair until the api names node a master again. */
  recordedBackMs?: number | undefined;
  /** The probes of failover and failback, for a failure message. */
  samples: ProbeSample[];
  failbackSamples?: ProbeSample[];
}

const ip = (pair: HaPair, ...argv: string[]) => pair.ha.lab.exec(pair.node('a').ns, ['ip', ...argv]).then(() => undefined);

export const KEEPALIVED_KILLED: HaFault = {
  name: 'keepalived SIGKILLed',
  inject: (pair) => pair.killKeepalived('a'),
  repair: async (pair) => void (await pair.startKeepalived('a')),
};

export const LAN_LINK_DOWN: HaFault = {
  name: 'LAN link down',
  inject: (pair) => ip(pair, 'link', 'set', 'ens19', 'down'),
  repair: (pair) => ip(pair, 'link', 'set', 'ens19', 'up'),
};

export const SERVICES_KILLED: HaFault = {
  name: 'agent and forwarder SIGKILLed',
  async inject(pair) {
    await Promise.all([pair.gateway('a').kill('agent'), pair.gateway('a').kill('forwarder')]);
  },
  async repair(pair) {
    await pair.gateway('a').start('forwarder');
    await pair.gateway('a').start('agent');
  },
};

/** Every process in node a's namespace SIGKILLed and the namespace removed: its interfaces vanish. */
export const POWER_LOSS: HaFault = {
  name: 'power loss (namespace removed)',
  async inject(pair) {
    const ns = pair.node('a').ns;
    const pids = (await execIn(undefined, ['ip', 'netns', 'pids', ns], { reject: false })).stdout.split('\n').map(Number).filter((p) => p > 0);
    // Frozen first, then killed: keepalived's VRRP child gets SIGTERM when its parent dies
    // (PR_SET_PDEATHSIG) and would announce priority 0 on its way out, which no real power loss does.
    for (const signal of ['SIGSTOP', 'SIGKILL'] as const) {
      for (const pid of pids) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
    }
    await execIn(undefined, ['ip', 'netns', 'del', ns]);
  },
};

export const FAULTS: readonly HaFault[] = [KEEPALIVED_KILLED, LAN_LINK_DOWN, SERVICES_KILLED];

/**
 * Polls the api (the one beside node b: it outlives node a's namespace) until it names `master`
 * with no conflict; the time from t0, or undefined after maxMs.
 */
export async function untilRecordedMaster(pair: HaPair, master: 'a' | 'b', t0: number, maxMs: number): Promise<number | undefined> {
  const deadline = t0 + maxMs;
  while (Date.now() < deadline) {
    const nodes = await pair.apiNodes('b').catch(() => undefined);
    if (nodes?.master === `pgw-${master}` && !nodes.conflict) return Date.now() - t0;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

/** Injects the fault on master a, measures failover to b, repairs and measures failback to a. */
export async function runFault(pair: HaPair, fault: HaFault): Promise<FaultResult> {
  const client = pair.clients[0]!;
  await waitMaster(pair, 'a');
  await untilRecordedMaster(pair, 'a', Date.now(), 10_000);
  const t0 = Date.now();
  await fault.inject(pair);
  const [over, recordedMs] = await Promise.all([pair.untilServedBy('b', client, 10_000), untilRecordedMaster(pair, 'b', t0, 10_000)]);
  const result: FaultResult = { fault: fault.name, failoverMs: over.servedAt && over.servedAt - t0, recordedMs, outageMs: longestGap(over.samples, t0), samples: over.samples };
  if (!fault.repair) return result;
  const t1 = Date.now();
  // The client keeps connecting while node a comes back (its services take seconds to start): the gaps are the client's.
  const repaired = fault.repair(pair);
  const [back, recordedBackMs] = await Promise.all([
    pair.untilServedBy('a', client, PREEMPT_DELAY_S * 1000 + 20_000),
    untilRecordedMaster(pair, 'a', t1, PREEMPT_DELAY_S * 1000 + 20_000),
  ]);
  await repaired;
  result.recordedBackMs = recordedBackMs;
  result.failbackMs = back.servedAt && back.servedAt - t1;
  result.failbackOutageMs = longestGap(back.samples, t1);
  result.failbackSamples = back.samples;
  return result;
}

/**
 * How long the clients may stay on b after a split brain: their ARP entry comes back to a at once
 * only if a hears one of b's adverts after the block (it then announces itself again); when b hears
 * a first and yields silently, the clients stay on b (which enforces the same policy) until a's
 * periodic announcement, every 30 s (vrrp_garp_master_refresh). Seen both ways in the lab.
 */
export const AFTER_SPLIT_BRAIN_MS = 35_000;

/** VRRP between the nodes blocked on the WAN bridge: both claim master and hold the virtual IP. */
export async function splitBrain(pair: HaPair, holdMs: number): Promise<{ bothMaster: boolean; conflictShown: boolean; samples: number; failed: number; outageMs: number }> {
  const { lab } = pair.ha;
  const table = 'pgw_ha_split';
  await lab.exec(lab.ns.wan, ['nft', '-f', '-'], {
    input: `table bridge ${table} {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n  ip protocol vrrp drop\n }\n}\n`,
  });
  try {
    let bothMaster = false;
    let conflictShown = false;
    const t0 = Date.now();
    const samples = [];
    while (Date.now() - t0 < holdMs) {
      if (!bothMaster) bothMaster = (await pair.holdsVip('a')) && (await pair.holdsVip('b'));
      // What the console shows meanwhile: both nodes' recorded states, seen as a conflict.
      if (bothMaster && !conflictShown) conflictShown = (await pair.apiNodes('a').catch(() => undefined))?.conflict === true;
      samples.push(await pair.probe(pair.clients[0]!));
    }
    return { bothMaster, conflictShown, samples: samples.length, failed: samples.filter((s) => !s.ok).length, outageMs: longestGap(samples, t0) };
  } finally {
    await lab.exec(lab.ns.wan, ['nft', 'delete', 'table', 'bridge', table]);
  }
}

/**
 * Positive control of the leak capture (run last: it breaks node b's enforcement): node b's agent
 * stopped, its pgw tables deleted and LAN forwarding on; a client's connection then crosses b's
 * eth0 and the same capture and analysis must see it. Returns the client packets seen.
 */
export async function leakControl(pair: HaPair): Promise<number> {
  const { lab } = pair.ha;
  const ns = pair.node('b').ns;
  await pair.gateway('b').kill('agent');
  const capture = await pair.captureWans(['b']);
  for (const table of ['pgw', 'pgw_guard']) await lab.exec(ns, ['nft', 'delete', 'table', 'inet', table], { reject: false });
  await lab.exec(ns, ['sysctl', '-q', '-w', 'net.ipv4.conf.ens19.forwarding=1']);
  await lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, sourceIp: pair.clients[0]!.ip, timeoutMs: 1000 });
  return (await capture.stop()).leaked.length;
}
