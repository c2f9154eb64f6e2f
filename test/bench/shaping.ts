// Per-client rate limits and byte quota (issue 16), measured in the lab with the real agent,
// forwarder and a dante SOCKS5 proxy: iperf3 through a client at several limit pairs (median of
// the rounds, the first second left out) against an unlimited client, then quota trials (a 10 MB
// quota crossed at 100 Mbit/s down; the crossing bracketed by two reads of the kernel's count; an
// upper bound of the time from it to the last packet the gateway sent the client, from a capture of
// the LAN interface; status record delay; reset time).
// First, without the lab, the per-client accounting's cost at 256 and 4096 clients (accounting-cost.ts:
// ms per sample, the sample's size and the Redis write load per node). Ends with one JSON line.
// Not measured here: the api's Postgres write load of the usage history (the api's part of issue 16).
// Usage: npm run bench:shaping [-- --rounds 3 --quota-trials 5 --accounting-only]
import { parseArgs } from 'node:util';
import { CLIENT_USAGE_INTERVAL_MS } from '@pgw/events';
import { execFileSync } from 'node:child_process';
import { agentStatusKey, connectRedis, parseAgentStatus } from '@pgw/events';
// The lab's single gateway runs with no PGW_NODE_NAME: its records are under the host name.
import { DEFAULT_NODE } from '../support/node-status.js';
const AGENT_STATUS_KEY = agentStatusKey(DEFAULT_NODE);
import { createDataplane, type Dataplane, REPO } from '../e2e/dataplane-harness.js';
import { iperfIdle, measureRate, packetsToClient, setShaping, waitQuotaCrossed } from '../e2e/shaping-harness.js';
import { type AccountingCost, measureAccountingCost } from './accounting-cost.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, 'quota-trials': { type: 'string', default: '5' }, 'accounting-only': { type: 'boolean', default: false } } });
const ROUNDS = Number(args.rounds);
const QUOTA_TRIALS = Number(args['quota-trials']);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 10) throw new Error(`--rounds must be 1..10 (is ${args.rounds})`);
if (!Number.isInteger(QUOTA_TRIALS) || QUOTA_TRIALS < 1 || QUOTA_TRIALS > 20) throw new Error(`--quota-trials must be 1..20 (is ${args['quota-trials']})`);

const LIMITED = '192.168.2.10';
const UNLIMITED = '192.168.2.11';
const QUOTA = '192.168.2.12';
/** Download/upload limit pairs, kbit/s. */
const PAIRS = [
  [10_000, 5_000],
  [50_000, 20_000],
  [200_000, 100_000],
] as const;
const QUOTA_BYTES = 10_000_000;
const QUOTA_DOWN_KBIT = 100_000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const loadavg = () => execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');

async function rates(dp: Dataplane, limitedId: number) {
  const rows: { downKbit: number; upKbit: number; downMbps: number; upMbps: number; downErrPct: number; upErrPct: number }[] = [];
  for (const [downKbit, upKbit] of PAIRS) {
    await setShaping(dp, limitedId, { rateDownKbit: downKbit, rateUpKbit: upKbit }, true);
    await dp.waitFor(`class ${upKbit} kbit on the IFB`, async () => (await dp.lab.exec(dp.gw, ['tc', 'class', 'show', 'dev', 'pgw-ifb0'], { reject: false })).stdout.includes(`rate ${upKbit >= 1000 ? `${upKbit / 1000}Mbit` : `${upKbit}Kbit`}`), 10_000);
    const down: number[] = [];
    const up: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      down.push(await measureRate(dp, LIMITED, 'down'));
      up.push(await measureRate(dp, LIMITED, 'up'));
    }
    const [d, u] = [median(down), median(up)];
    const row = { downKbit, upKbit, downMbps: round(d), upMbps: round(u), downErrPct: round((d / (downKbit / 1000) - 1) * 100), upErrPct: round((u / (upKbit / 1000) - 1) * 100) };
    console.log(`limit ${downKbit / 1000}/${upKbit / 1000} Mbit/s: measured down ${row.downMbps} (${row.downErrPct} %), up ${row.upMbps} (${row.upErrPct} %)  [down ${down.map((x) => round(x)).join(', ')}; up ${up.map((x) => round(x)).join(', ')}]`);
    rows.push(row);
  }
  return rows;
}

async function quotaTrials(dp: Dataplane, quotaId: number) {
  const redis = connectRedis(dp.lab.redis.url('api'));
  const { ip, httpPort, iperfPort } = dp.lab.description.internet;
  const trials: { blockMs: number; readWindowMs: number; toClientAfterSeen: number; statusMs: number; resetMs: number }[] = [];
  try {
    for (let epoch = 0; epoch < QUOTA_TRIALS; epoch++) {
      await iperfIdle(dp, UNLIMITED);
      const capture = await dp.lab.capture({ ns: dp.gw, iface: dp.lab.description.gateway.lanIface, filter: `host ${QUOTA}` });
      const transfer = dp.lab.exec(dp.lab.ns.lan, ['iperf3', '-c', ip, '-p', String(iperfPort), '-B', QUOTA, '-R', '-n', '40M'], { reject: false, timeoutMs: 4_000 });
      const crossing = await waitQuotaCrossed(dp, quotaId, epoch, QUOTA_BYTES);
      const statusMs = await dp.waitFor('status quota_exceeded', async () => parseAgentStatus(await redis.get(AGENT_STATUS_KEY))?.blocked[QUOTA] === 'quota_exceeded', 2_000);
      await transfer;
      await capture.stop();
      const sent = await packetsToClient(dp, capture.file, QUOTA, crossing.seenAt);
      const resetAt = Date.now();
      await setShaping(dp, quotaId, { quotaEpoch: epoch + 1 }, true);
      // Bounded at 15 s, not the e2e's 3 s: at load 20+ one agent run took up to 15 s (its LAN phase);
      // the time is printed and in the JSON line either way.
      const unblock = await dp.prober.until(QUOTA, ip, httpPort, 'connected', 15_000);
      if (unblock.gaveUp) throw new Error(`trial ${epoch}: still blocked 15 s after the reset`);
      // An upper bound: the crossing came after the last read under the quota. Packets counted before
      // the crossing may leave HTB's queue after it was seen (toClientAfterSeen): not past the quota.
      const trial = { blockMs: round(Math.max(0, sent.lastAt - crossing.lastBelowAt)), readWindowMs: crossing.seenAt - crossing.lastBelowAt, toClientAfterSeen: sent.countAfter, statusMs, resetMs: unblock.at - resetAt };
      console.log(
        `quota trial ${epoch + 1}: crossing -> last packet to the client <= ${trial.blockMs} ms (reads ${trial.readWindowMs} ms apart; ${trial.toClientAfterSeen} after it was seen), seen -> status ${statusMs} ms, reset -> connected ${trial.resetMs} ms`,
      );
      trials.push(trial);
    }
  } finally {
    redis.disconnect();
  }
  return trials;
}

function accountingSummary(costs: readonly AccountingCost[]) {
  const at4096 = costs.find((c) => c.clients === 4096)!;
  return {
    accountingSampleMs: Object.fromEntries(costs.map((c) => [c.clients, { median: c.sampleMsMedian, max: c.sampleMsMax }])),
    accountingWriteLoad: { clients: at4096.clients, sampleBytes: at4096.sampleBytes, writeBytesPerS: at4096.writeBytesPerS, writesPerS: 1000 / CLIENT_USAGE_INTERVAL_MS },
  };
}

async function accounting(): Promise<AccountingCost[]> {
  const costs = await measureAccountingCost();
  for (const c of costs) {
    console.log(`accounting at ${c.clients} clients: one sample (nft -j list table inet pgw_acct + parse) median ${c.sampleMsMedian} ms, max ${c.sampleMsMax} ms; sample built in ${c.buildMs} ms, ${c.sampleBytes} B per node every ${CLIENT_USAGE_INTERVAL_MS / 1000} s (${c.writeBytesPerS} B/s into Redis); load ${loadavg()}`);
  }
  return costs;
}

async function main(): Promise<void> {
  execFileSync('npx', ['tsc', '-b', 'services/agent', 'services/forwarder'], { cwd: REPO, stdio: 'inherit', timeout: 240_000 });
  const costs = await accounting();
  if (args['accounting-only']) {
    console.log(JSON.stringify({ bench: 'shaping', ...accountingSummary(costs) }));
    return;
  }
  const dp = await createDataplane({ clients: 4, proxies: ['socks5', 'socks5'] });
  try {
    await dp.loadGuard();
    const shared = await dp.addProxy(0, 'up');
    const own = await dp.addProxy(1, 'up');
    const limitedId = await dp.addMapping(LIMITED, shared, 20010);
    await dp.addMapping(UNLIMITED, shared, 20011);
    const quotaId = await dp.addMapping(QUOTA, own, 20012);
    await setShaping(dp, quotaId, { quotaBytes: QUOTA_BYTES, rateDownKbit: QUOTA_DOWN_KBIT }, false);
    await dp.startAgent();
    await dp.gateway.start('forwarder', { PGW_FORWARDER_WARM_POOL: 'false' });
    const { ip, httpPort } = dp.lab.description.internet;
    await dp.waitFor('every client effective', async () => {
      for (const client of [LIMITED, UNLIMITED, QUOTA]) if ((await dp.prober.tcp(client, ip, httpPort)).result !== 'connected') return false;
      return true;
    }, 20_000);
    console.log(`bench:shaping, ${ROUNDS} round(s) of ${4} s iperf3 per direction and limit, median; load average ${loadavg()}`);
    const rows = await rates(dp, limitedId);
    const freeDown: number[] = [];
    const freeUp: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      freeDown.push(await measureRate(dp, UNLIMITED, 'down'));
      freeUp.push(await measureRate(dp, UNLIMITED, 'up'));
    }
    console.log(`unlimited client beside it: down ${round(median(freeDown))} Mbit/s, up ${round(median(freeUp))} Mbit/s`);
    const trials = await quotaTrials(dp, quotaId);
    const rateErrorPct = Math.max(...rows.flatMap((r) => [Math.abs(r.downErrPct), Math.abs(r.upErrPct)]));
    const quotaBlockMs = Math.max(...trials.map((t) => t.blockMs));
    console.log(`load average at the end ${loadavg()}`);
    console.log(
      JSON.stringify({
        bench: 'shaping',
        rateErrorPct,
        rates: rows,
        unlimitedMbps: { down: round(median(freeDown)), up: round(median(freeUp)) },
        quotaBlockMs,
        quotaStatusMsMax: Math.max(...trials.map((t) => t.statusMs)),
        quotaResetMsMax: Math.max(...trials.map((t) => t.resetMs)),
        quotaTrials: trials,
        ...accountingSummary(costs),
        pass: rateErrorPct <= 10 && quotaBlockMs < 1000,
      }),
    );
  } finally {
    await dp.destroy();
  }
}

await main();
