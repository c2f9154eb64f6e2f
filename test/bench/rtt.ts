/**
 * bench:rtt — time to first byte through a remote proxy (issue 12.4): direct routing, redsocks
 * (Debian package) and pgw with its warm pool off (cold: every connection dials the proxy), once
 * with the proxies' host giving no TCP Fast Open cookie (the kernel default) and once with it
 * taking Fast Open on every listener (cold tfo: the forwarder's CONNECT rides the SYN), and on
 * (warm), for SOCKS5, SOCKS5 with auth and HTTP CONNECT with auth, all through a delay line of
 * PGW_BENCH_RTT_MS (default 50) round trip on the gateway's WAN path. Each sample: the client's
 * connect() (its SYN) to the first byte of the answer to an HTTP GET. Prints a table in ms and in
 * RTTs and ends with one JSON line.
 *
 *   node --conditions=pgw-source --import tsx test/bench/rtt.ts
 *
 * The delay line (rtt/delay-line.ts) is a userspace packet forwarder between two TUN devices in
 * the lab's WAN namespace (this kernel has no netem): every packet between the gateway and the
 * proxies or the internet host, SYN and SYN-ACK included, waits RTT/2 each way. The proxies reach
 * the internet host inside that namespace without delay, as a proxy near its targets would.
 * As in bench:forwarder, direct routing and redsocks run without pgw's table, pgw with it, in
 * alternating rounds; the RTT unit is the direct row's measured TCP connect time. Each round
 * also measures each proxy's floor from the gateway itself (rtt/connect-floor.ts): what the proxy
 * costs any client (its CONNECT processing and its relaying, and for cold the handshake's round
 * trip), so that the pgw rows are also shown beyond it: the forwarder's own share.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLab, type Lab, type LabProcess, PROXY_HOST_FASTOPEN, type ProxyHandle } from '../../lab/index.js';
import { createTestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT, SERVICE_SPECS } from '../support/gateway.js';
import { gatewayWithoutPgw } from './forwarder/gateway-without-pgw.js';
import { waitEffective } from './forwarder/intercept-mode.js';
import { startRedsocks } from './forwarder/redsocks.js';
import { planDelayLine, TUN_A, TUN_B } from './rtt/delay-plan.js';
import { parseWarmSetupMs } from './rtt/warm-setup.js';
import { parseWarmTakes, type WarmTakes } from './rtt/warm-takes.js';
import { benchSocks5Handshake } from './socks5-handshake.js';

const RTT_MS = boundedEnv('PGW_BENCH_RTT_MS', 50, 10, 500);
const SAMPLES = boundedEnv('PGW_BENCH_SAMPLES', 15, 3, 200);
const ROUNDS = boundedEnv('PGW_BENCH_ROUNDS', 2, 1, 10);
/** Before each row's samples: redsocks learns a 407, the warm pool sizes itself. */
const WARMUP = 3;
/** Between samples: long enough for the pool to open the next warm connection (TCP + greeting/auth: 2 RTT). */
const GAP_MS = 4 * RTT_MS + 100;
const SOCKS5_HANDSHAKE = benchSocks5Handshake();
const GOAL_WARM_RTT = 0.2;
const GOAL_COLD_RTT = 1;
const CLIENT_PROGRAM = fileURLToPath(new URL('./rtt/ttfb-client.ts', import.meta.url));
const DELAY_PROGRAM = fileURLToPath(new URL('./rtt/delay-line.ts', import.meta.url));
const FLOOR_PROGRAM = fileURLToPath(new URL('./rtt/connect-floor.ts', import.meta.url));

type Setup = 'direct' | 'redsocks' | 'pgw cold' | 'pgw cold tfo' | 'pgw warm';
/** pgw's runs in each round: the warm pool off or on, and whether the proxies' host takes TCP Fast Open. */
const PGW_RUNS = [
  { setup: 'pgw cold', warmPool: 'false', proxyHostFastOpen: false },
  { setup: 'pgw cold tfo', warmPool: 'false', proxyHostFastOpen: true },
  { setup: 'pgw warm', warmPool: 'true', proxyHostFastOpen: true },
] as const;
type Protocol = 'none' | 'socks5' | 'socks5-auth' | 'http-auth';
const PROTOCOLS = ['socks5', 'socks5-auth', 'http-auth'] as const;

/** One LAN address per setup and protocol: each is redirected (or mapped) on its own. */
const CLIENTS: Record<string, string> = {
  'direct/none': '192.168.2.10',
  'redsocks/socks5': '192.168.2.11',
  'redsocks/socks5-auth': '192.168.2.12',
  'redsocks/http-auth': '192.168.2.13',
  'pgw/socks5': '192.168.2.14',
  'pgw/socks5-auth': '192.168.2.15',
  'pgw/http-auth': '192.168.2.16',
};
const PGW_PORTS: Record<string, number> = { socks5: 20014, 'socks5-auth': 20015, 'http-auth': 20016 };

interface Samples {
  connectMs: number[];
  ttfbMs: number[];
  failures: number;
  firstError?: string;
}

interface Row {
  setup: Setup;
  protocol: Protocol;
  samples: number;
  failures: number;
  ttfbP50Ms: number;
  ttfbP90Ms: number;
  ttfbRtt: number;
  addedMs: number | null;
  addedRtt: number | null;
  /** pgw rows: added time beyond the proxy's floor for warm or cold (see ProxyFloor), the forwarder's own share. */
  overFloorMs?: number;
  overFloorRtt?: number;
}

/**
 * What a proxy costs any client of it on the gateway itself, with no relay in between, measured
 * without pgw (rtt/connect-floor.ts, p50 of time to first byte): warm, the CONNECT on an open
 * connection then the GET, minus the GET direct; cold, the same with a whole dial.
 */
interface ProxyFloor {
  protocol: Protocol;
  directP50Ms: number;
  warmP50Ms: number;
  coldP50Ms: number;
  warmFloorMs: number;
  warmFloorRtt: number;
  coldFloorMs: number;
  coldFloorRtt: number;
}

interface FloorSamples {
  directMs: number[];
  warmMs: number[];
  coldMs: number[];
}

function boundedEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be a whole number in ${min}..${max}, got ${JSON.stringify(raw)}`);
  return value;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

async function sample(lab: Lab, src: string, count: number): Promise<Samples> {
  const { ip, httpPort } = lab.description.internet;
  const args = { src, host: ip, port: httpPort, count, gapMs: GAP_MS, timeoutMs: 20 * RTT_MS + 2_000 };
  const run = await lab.exec(lab.ns.lan, [process.execPath, '--import', 'tsx', CLIENT_PROGRAM, JSON.stringify(args)], { timeoutMs: count * (GAP_MS + args.timeoutMs) + 20_000 });
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Samples;
}

async function measure(lab: Lab, key: string, src: string, into: Map<string, Samples>): Promise<void> {
  await sample(lab, src, WARMUP);
  const got = await sample(lab, src, SAMPLES);
  const pooled = into.get(key) ?? { connectMs: [], ttfbMs: [], failures: 0 };
  pooled.connectMs.push(...got.connectMs);
  pooled.ttfbMs.push(...got.ttfbMs);
  pooled.failures += got.failures;
  into.set(key, pooled);
  const failed = got.failures > 0 ? `, ${got.failures} failed (${got.firstError})` : '';
  say(`  ${key}: time to first byte p50 ${quantile(got.ttfbMs, 0.5).toFixed(1)} ms${failed}`);
}

/**
 * Adds the forwarder's warm takes (its counter, since its start) per protocol, and its smoothed
 * warm connection setup time: read once per warm run, before it stops.
 */
async function countWarmTakes(lab: Lab, proxyIds: ReadonlyMap<Protocol, number>, into: Map<Protocol, WarmTakes>, setups: Map<Protocol, number[]>): Promise<void> {
  const scrape = await lab.httpGet({ ns: lab.ns.gateway, url: `http://127.0.0.1:${SERVICE_SPECS.forwarder.metricsPort}/metrics`, timeoutMs: 5_000 });
  if (!scrape.ok) throw new Error(`forwarder metrics not readable: ${scrape.error}`);
  const takes = parseWarmTakes(scrape.body);
  const setupMs = parseWarmSetupMs(scrape.body);
  for (const [protocol, id] of proxyIds) {
    const got = takes.get(id) ?? { used: 0, stale: 0 };
    const sum = into.get(protocol)!;
    sum.used += got.used;
    sum.stale += got.stale;
    const setup = setupMs.get(id);
    if (setup !== undefined) setups.set(protocol, [...(setups.get(protocol) ?? []), setup]);
  }
}

async function measureFloor(lab: Lab, proxies: ReadonlyMap<string, ProxyHandle>, into: Map<string, FloorSamples>): Promise<void> {
  const args = {
    proxies: PROTOCOLS.map((protocol) => ({ url: proxies.get(protocol)!.url, handshake: 'pipelined' })),
    target: { host: lab.description.internet.ip, port: lab.description.internet.httpPort },
    count: SAMPLES,
    gapMs: GAP_MS,
  };
  const run = await lab.exec(lab.ns.gateway, [process.execPath, '--conditions=pgw-source', '--import', 'tsx', FLOOR_PROGRAM, JSON.stringify(args)], { timeoutMs: (PROTOCOLS.length + 1) * SAMPLES * 2 * (GAP_MS + 10_000) + 20_000 });
  const got = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { directMs: number[]; proxies: Record<string, { warmMs: number[]; coldMs: number[] }> };
  for (const protocol of PROTOCOLS) {
    const figures = got.proxies[proxies.get(protocol)!.url]!;
    const pooled = into.get(protocol) ?? { directMs: [], warmMs: [], coldMs: [] };
    pooled.directMs.push(...got.directMs);
    pooled.warmMs.push(...figures.warmMs);
    pooled.coldMs.push(...figures.coldMs);
    into.set(protocol, pooled);
    say(`  from the gateway, ${protocol}: TTFB p50 direct ${quantile(got.directMs, 0.5).toFixed(1)} ms, warm ${quantile(figures.warmMs, 0.5).toFixed(1)} ms, cold ${quantile(figures.coldMs, 0.5).toFixed(1)} ms`);
  }
}

async function installDelayLine(lab: Lab): Promise<LabProcess> {
  const wan = lab.ns.wan;
  const plan = planDelayLine({ wanIface: lab.description.wan.iface, delayedDestinations: [`${lab.description.gateway.wanIp}/32`, '192.168.2.0/24'] });
  // Inside the lab's WAN namespace only: it goes with the lab (lab.destroy(), also after a failure).
  await lab.exec(wan, ['ip', '-batch', '-'], { input: `${plan.ipBatch.join('\n')}\n` });
  for (const setting of plan.sysctls) await lab.exec(wan, ['sysctl', '-q', '-w', setting]);
  const proc = await lab.spawn(wan, [process.execPath, '--conditions=pgw-source', '--import', 'tsx', DELAY_PROGRAM, TUN_A, TUN_B, String(RTT_MS / 2)], { name: 'delay-line', cwd: REPO_ROOT });
  // Up to 30 s: tsx compiles the program first, slower on a loaded machine.
  for (let i = 0; i < 300 && !readFileSync(proc.logFile, 'utf8').includes('ready'); i++) {
    if (!proc.isAlive()) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const log = readFileSync(proc.logFile, 'utf8');
  // The log goes with the lab: its last lines go into the error.
  if (!log.includes('ready')) throw new Error(`delay line not ready (${proc.isAlive() ? 'still starting after 30 s' : 'exited'}): ${log.trim().split('\n').slice(-5).join(' | ') || 'no output'}`);
  return proc;
}

/**
 * Turns the proxies' host's TCP Fast Open on or off (its listeners took it at listen(): the lab's
 * proxyHostFastOpen). Off, the gateway forgets the cookies it holds too, so that its dials are
 * those to a host that never gave one.
 */
async function setProxyHostFastOpen(lab: Lab, on: boolean): Promise<void> {
  await lab.exec(lab.ns.wan, ['sysctl', '-q', '-w', `net.ipv4.tcp_fastopen=${on ? PROXY_HOST_FASTOPEN : 1}`]);
  if (!on) await lab.exec(lab.ns.gateway, ['ip', 'tcp_metrics', 'flush', 'all']);
}

function printTable(rows: readonly Row[], rttMs: number): void {
  const header = ['setup', 'protocol', 'TTFB p50 ms', 'p90 ms', 'RTTs', 'added ms', 'added RTTs', 'failed'];
  const lines = rows.map((r) => [r.setup, r.protocol, r.ttfbP50Ms.toFixed(1), r.ttfbP90Ms.toFixed(1), r.ttfbRtt.toFixed(2), r.addedMs === null ? '-' : r.addedMs.toFixed(1), r.addedRtt === null ? '-' : r.addedRtt.toFixed(2), String(r.failures)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\nbench:rtt: delay line ${RTT_MS} ms RTT (measured: direct TCP connect p50 ${rttMs.toFixed(1)} ms = 1 RTT below); ${ROUNDS} rounds x ${SAMPLES} samples per row, ${GAP_MS} ms apart; TTFB = client SYN to first response byte of GET /ip; pgw dials SOCKS5 with handshake ${SOCKS5_HANDSHAKE}`);
  console.log('TCP Fast Open: the proxies\' host takes it in rows "pgw cold tfo" and "pgw warm" (and while direct and redsocks run, whose clients do not use it); in "pgw cold" it gives no cookie, as by default\n');
  console.log(show(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const line of lines) console.log(show(line));
}

async function main(): Promise<void> {
  execFileSync('npx', ['tsc', '-b', 'services/forwarder', 'services/agent'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 240_000 });
  const cleanups: (() => Promise<void> | void)[] = [];
  let summary: Record<string, unknown> = {};
  try {
    say(`bench:rtt: creating the lab (delay line ${RTT_MS} ms RTT)`);
    const lab = await createLab({ clients: 7, proxies: ['socks5', 'socks5-auth', 'http-auth'], proxyHostFastOpen: true });
    cleanups.push(() => lab.destroy());
    const tdb = await createTestDatabase({ prefix: 'pgw_bench_rtt' });
    cleanups.push(() => tdb.drop());
    const proxies = new Map(PROTOCOLS.map((protocol) => [protocol, lab.proxies.find((p) => p.kind === protocol)!]));
    const gateway = new Gateway(lab, tdb);
    cleanups.push(() => gateway.destroy());
    const proxyIds = new Map<Protocol, number>();
    for (const protocol of PROTOCOLS) {
      const id = await gateway.seedProxy(proxies.get(protocol)!, { status: 'up', ...(protocol === 'http-auth' ? {} : { handshakeLearned: SOCKS5_HANDSHAKE }) });
      proxyIds.set(protocol, id);
      await gateway.seedMapping(CLIENTS[`pgw/${protocol}`]!, id, PGW_PORTS[protocol]!);
    }
    await installDelayLine(lab);

    const samples = new Map<string, Samples>();
    const floorSamples = new Map<string, FloorSamples>();
    /** Per protocol over the warm rows: client connections that rode a warm connection (used) or found it closed (stale). */
    const warmTakes = new Map<Protocol, WarmTakes>(PROTOCOLS.map((protocol) => [protocol, { used: 0, stale: 0 }]));
    /** Per protocol, per warm run: the forwarder's smoothed warm connection setup (ms). */
    const warmSetups = new Map<Protocol, number[]>();
    const loads: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      loads.push(Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
      say(`round ${round}/${ROUNDS} (load ${loads.at(-1)}): direct routing and redsocks, no pgw table`);
      const redsocks = await startRedsocks(
        lab,
        PROTOCOLS.map((protocol, i) => {
          const proxy = proxies.get(protocol)!;
          const type = protocol === 'http-auth' ? ('http-connect' as const) : ('socks5' as const);
          const auth = proxy.username === undefined ? {} : { login: proxy.username, password: proxy.password ?? '' };
          return { client: CLIENTS[`redsocks/${protocol}`]!, localPort: 12345 + i, proxy: { ip: proxy.ip, port: proxy.port, type, ...auth } };
        }),
      );
      try {
        await measure(lab, 'direct/none', CLIENTS['direct/none']!, samples);
        for (const protocol of PROTOCOLS) await measure(lab, `redsocks/${protocol}`, CLIENTS[`redsocks/${protocol}`]!, samples);
        await measureFloor(lab, proxies, floorSamples);
      } finally {
        await redsocks.stop();
      }
      say(`round ${round}/${ROUNDS}: pgw (agent ruleset + forwarder as uid pgw), warm pool off then on`);
      await gateway.start('agent');
      for (const { setup, warmPool, proxyHostFastOpen } of PGW_RUNS) {
        await setProxyHostFastOpen(lab, proxyHostFastOpen);
        await gateway.start('forwarder', { PGW_FORWARDER_WARM_POOL: warmPool });
        await waitEffective(lab, PROTOCOLS.map((protocol) => [CLIENTS[`pgw/${protocol}`]!, proxies.get(protocol)!] as const), 20_000);
        for (const protocol of PROTOCOLS) await measure(lab, `${setup}/${protocol}`, CLIENTS[`pgw/${protocol}`]!, samples);
        if (warmPool === 'true') await countWarmTakes(lab, proxyIds, warmTakes, warmSetups);
        await gateway.stop('forwarder');
      }
      // Back to a gateway without pgw for the next round's direct and redsocks rows.
      await gateway.stop('agent');
      await gatewayWithoutPgw(lab);
    }

    const direct = samples.get('direct/none')!;
    const rttMs = quantile(direct.connectMs, 0.5);
    const directP50 = quantile(direct.ttfbMs, 0.5);
    const keys: [Setup, Protocol][] = [['direct', 'none'], ...(['redsocks', ...PGW_RUNS.map((run) => run.setup)] as const).flatMap((setup) => PROTOCOLS.map((protocol) => [setup, protocol] as [Setup, Protocol]))];
    const rows: Row[] = keys.map(([setup, protocol]) => {
      const s = samples.get(`${setup}/${protocol}`)!;
      const p50 = quantile(s.ttfbMs, 0.5);
      const added = setup === 'direct' ? null : p50 - directP50;
      return {
        setup,
        protocol,
        samples: s.ttfbMs.length,
        failures: s.failures,
        ttfbP50Ms: round2(p50),
        ttfbP90Ms: round2(quantile(s.ttfbMs, 0.9)),
        ttfbRtt: round2(p50 / rttMs),
        addedMs: added === null ? null : round2(added),
        addedRtt: added === null ? null : round2(added / rttMs),
      };
    });
    const floors: ProxyFloor[] = PROTOCOLS.map((protocol) => {
      const f = floorSamples.get(protocol)!;
      const [direct, warm, cold] = [quantile(f.directMs, 0.5), quantile(f.warmMs, 0.5), quantile(f.coldMs, 0.5)];
      return {
        protocol,
        directP50Ms: round2(direct),
        warmP50Ms: round2(warm),
        coldP50Ms: round2(cold),
        warmFloorMs: round2(warm - direct),
        warmFloorRtt: round2((warm - direct) / rttMs),
        coldFloorMs: round2(cold - direct),
        coldFloorRtt: round2((cold - direct) / rttMs),
      };
    });
    for (const row of rows) {
      const floor = floors.find((f) => f.protocol === row.protocol);
      if (!row.setup.startsWith('pgw') || floor === undefined) continue;
      row.overFloorMs = round2(row.addedMs! - (row.setup === 'pgw warm' ? floor.warmFloorMs : floor.coldFloorMs));
      row.overFloorRtt = round2(row.overFloorMs / rttMs);
    }
    printTable(rows, rttMs);
    console.log('\nproxy floors: time to first byte from the gateway itself (no pgw, no relay; p50), through the proxy on an open connection (warm) and with a whole dial (cold), minus direct from the gateway: what any client of that proxy pays');
    for (const f of floors) {
      console.log(`  ${f.protocol.padEnd(12)} direct ${f.directP50Ms.toFixed(1)} ms, warm ${f.warmP50Ms.toFixed(1)} ms, cold ${f.coldP50Ms.toFixed(1)} ms: warm floor ${f.warmFloorMs.toFixed(1)} ms (${f.warmFloorRtt.toFixed(2)} RTT), cold floor ${f.coldFloorMs.toFixed(1)} ms (${f.coldFloorRtt.toFixed(2)} RTT)`);
    }
    for (const row of rows.filter((r) => r.overFloorMs !== undefined)) console.log(`  ${row.setup} ${row.protocol.padEnd(12)} added beyond the proxy's floor: ${row.overFloorMs!.toFixed(1)} ms (${row.overFloorRtt!.toFixed(2)} RTT)`);
    const perRow = ROUNDS * (WARMUP + SAMPLES);
    console.log(`\npgw warm rows: client connections that rode a warm connection (used), found it closed by the proxy (stale), or found none ready (cold dial), of ${perRow} per row`);
    for (const [protocol, takes] of warmTakes) console.log(`  ${protocol.padEnd(12)} used ${takes.used}, stale ${takes.stale}, cold ${perRow - takes.used - takes.stale}`);
    console.log('\npgw warm rows: opening a warm connection (the forwarder\'s smoothed setup per run; SOCKS5 with its greeting in a Fast Open SYN)');
    for (const [protocol, setups] of warmSetups) console.log(`  ${protocol.padEnd(12)} ${setups.map((ms) => `${ms.toFixed(1)} ms (${(ms / rttMs).toFixed(2)} RTT)`).join(', ')}`);
    const verdicts: Record<string, boolean> = {};
    for (const row of rows) {
      if (row.setup === 'pgw warm') {
        verdicts[`${row.protocol}_warm_added_le_${GOAL_WARM_RTT}_rtt`] = row.addedRtt! <= GOAL_WARM_RTT;
        verdicts[`${row.protocol}_warm_added_beyond_proxy_floor_le_${GOAL_WARM_RTT}_rtt`] = row.overFloorRtt! <= GOAL_WARM_RTT;
      }
      if (row.setup === 'pgw cold') {
        verdicts[`${row.protocol}_cold_added_le_${GOAL_COLD_RTT}_rtt`] = row.addedRtt! <= GOAL_COLD_RTT;
        verdicts[`${row.protocol}_cold_added_beyond_proxy_floor_le_${GOAL_WARM_RTT}_rtt`] = row.overFloorRtt! <= GOAL_WARM_RTT;
      }
      // Its floor is measured without Fast Open (Node's sockets have none): only the added time is judged.
      if (row.setup === 'pgw cold tfo') verdicts[`${row.protocol}_cold_tfo_added_le_${GOAL_COLD_RTT}_rtt`] = row.addedRtt! <= GOAL_COLD_RTT;
    }
    console.log('');
    for (const [name, ok] of Object.entries(verdicts)) console.log(`${ok ? 'PASS' : 'MISS'} ${name}`);
    summary = { bench: 'rtt', at: new Date().toISOString(), relay: process.env.PGW_FORWARDER_RELAY ?? 'the forwarder default', rttMsNominal: RTT_MS, socks5Handshake: SOCKS5_HANDSHAKE, rttMsMeasured: round2(rttMs), proxyFloors: floors, rounds: ROUNDS, samplesPerRound: SAMPLES, gapMs: GAP_MS, loadAverage: loads, rows, warmTakes: Object.fromEntries(warmTakes), warmSetupMs: Object.fromEntries([...warmSetups].map(([protocol, setups]) => [protocol, setups.map(round2)])), verdicts };
  } finally {
    for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch((error: Error) => say(`cleanup: ${error.message}`));
  }
  console.log(JSON.stringify(summary));
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(`bench:rtt failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
