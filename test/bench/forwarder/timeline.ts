/**
 * Where a relayed connection's time goes, read off the wire: tcpdump on every interface of the
 * lab's gateway namespace while a LAN client makes sequential connect + GET /ip + close tries
 * through pgw's forwarder and through redsocks, same dante and tinyproxy. Per try, the client's
 * connection and the relay's connection to the proxy that carried its GET (fresh, or warm from
 * pgw's pool: opened before the try) are merged in time order, keeping SYNs, FINs and data:
 *
 *   accept    client SYN in         -> relay's first packet for it to the proxy (SYN, or CONNECT on a warm connection)
 *   attach    proxy's last answer in -> the client's GET out to the proxy (answer parsing, relay set-up)
 *   down      response in           -> response out to the client
 *   close     proxy's FIN in        -> FIN out to the client
 *   relay     every gap that ends with a packet the relay sent: the relay's own time, the sum of the above and more
 *   others    every gap that ends with a packet that came in: the client, the proxy, the target, the wire;
 *             split by what came in: w:client (the client's bytes or FIN), w:answer (the proxy's answers
 *             before the GET), w:response (the response after it), w:fin (the proxy's FIN)
 *   total     client SYN in         -> FIN out to the client (relay + others)
 *   cpu       the relay process's CPU time per try, all its threads (schedstat, ns resolution): load-independent
 *
 *   node --conditions=pgw-source --import tsx test/bench/forwarder/timeline.ts [--tries 200] [--gap <ms>] [--tproxy] [--profile]
 *
 * --gap: each try waits that long after the previous one (default 0: back to back).
 * --tproxy: the pgw rows again with interceptMode tproxy (agent restarted, same forwarder), after
 * the DNAT ones: what the interception path itself costs, apart from the forwarder's work.
 * --profile: the forwarder runs under the V8 CPU profiler (cpu-profile-preload.cjs) through its
 * tries; self and total time per function are printed after the table.
 *
 * PGW_FORWARDER_* in the environment reach the forwarder (RELAY=js, WARM_POOL=false...);
 * PGW_TIMELINE_PERF=<file> adds a `perf record` of the forwarder through the pgw SOCKS5 tries, with
 * JavaScript symbols (perf report -i <file>). Tries whose packets do not fit the pattern (a reset
 * instead of a FIN, a SYN before the capture) are left out and counted by reason. Ends with one JSON line.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, type ProxyHandle } from '../../../lab/index.js';
import { createTestDatabase } from '../../support/database.js';
import { Gateway, REPO_ROOT } from '../../support/gateway.js';
import { BENCH_AGENT_ENV } from './bench-agent-env.js';
import { FORWARDER_WARMUP } from './jit-warmup.js';
import { LanClient } from './lan-client-handle.js';
import { inclusiveProfile, summariseProfile } from './profile-summary.js';
import { gatewayWithoutPgw } from './gateway-without-pgw.js';
import { waitEffective, waitInterceptMode } from './intercept-mode.js';
import { startRedsocks } from './redsocks.js';

const STAGES = ['accept', 'attach', 'down', 'close', 'relay', 'others', 'w:client', 'w:answer', 'w:response', 'w:fin', 'total', 'cpu'] as const;
const WAITS = ['w:client', 'w:answer', 'w:response', 'w:fin'] as const;
type Stage = (typeof STAGES)[number];

const CLIENT = { pgwSocks5: '192.168.2.10', pgwHttp: '192.168.2.11', redsocksSocks5: '192.168.2.12', redsocksHttp: '192.168.2.13' } as const;

interface Packet {
  t: number;
  dir: 'In' | 'Out';
  src: string;
  dst: string;
  flags: string;
  length: number;
}

// "11:55:01.123456 eth0  Out IP 198.51.100.1.40000 > 198.51.100.11.1080: Flags [S], seq ..., length 0"
const LINE = /^(\d+):(\d+):(\d+\.\d+) \S+\s+(In|Out)\s+IP (\S+) > (\S+): Flags \[([^\]]*)\].*?length (\d+)/;

function parse(lines: readonly string[]): Packet[] {
  const packets: Packet[] = [];
  for (const line of lines) {
    const m = LINE.exec(line);
    if (m === null) continue;
    const t = (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000;
    packets.push({ t, dir: m[4] as 'In' | 'Out', src: m[5]!, dst: m[6]!.replace(/:$/, ''), flags: m[7]!, length: Number(m[8]) });
  }
  return packets;
}

/** A packet that marks a step: SYN, FIN or data (pure ACKs and the kernel's SYN-ACKs left out). */
function marks(p: Packet): boolean {
  return p.length > 0 || p.flags.includes('F') || p.flags === 'S';
}

/** Per try: its stages, from the client's connection and the relay's connection to the proxy that carried its GET. */
function stagesOf(packets: readonly Packet[], clientIp: string, proxy: string, requestLength: number, skipped: Map<string, number>): Map<Stage, number>[] {
  const skip = (why: string) => skipped.set(why, (skipped.get(why) ?? 0) + 1);
  const ip = (endpoint: string) => endpoint.slice(0, endpoint.lastIndexOf('.'));
  const group = (into: Map<string, Packet[]>, key: string, p: Packet) => {
    const list = into.get(key) ?? [];
    list.push(p);
    into.set(key, list);
  };
  const byClient = new Map<string, Packet[]>();
  const byUpstream = new Map<string, Packet[]>();
  for (const p of packets) {
    if (p.dst === proxy) group(byUpstream, p.src, p);
    else if (p.src === proxy) group(byUpstream, p.dst, p);
    else if (ip(p.src) === clientIp) group(byClient, p.src, p);
    else if (ip(p.dst) === clientIp) group(byClient, p.dst, p);
  }
  const upstreams = [...byUpstream.values()];
  const tries: Map<Stage, number>[] = [];
  for (const c of byClient.values()) {
    const syn = c.find((p) => p.flags === 'S' && p.dir === 'In');
    const finOut = c.find((p) => p.dir === 'Out' && p.flags.includes('F'));
    const responseOut = c.find((p) => p.dir === 'Out' && p.length > 0);
    if (syn === undefined || finOut === undefined || responseOut === undefined) {
      skip(syn === undefined ? 'client: no SYN' : finOut === undefined ? 'client: no FIN out (reset?)' : 'client: no response');
      continue;
    }
    const u = upstreams.find((list) => list.some((p) => p.dir === 'Out' && p.length === requestLength && p.t > syn.t && p.t < finOut.t));
    if (u === undefined) {
      skip('no upstream carried the GET');
      continue;
    }
    // A warm connection's earlier packets (TCP set-up, greeting) are not this try's.
    const mine = u.filter((p) => p.t >= syn.t);
    // The GET follows the proxy's answer (a CONNECT request can be as long as the GET).
    const getOut = mine.find((p) => p.dir === 'Out' && p.length === requestLength && mine.some((q) => q.dir === 'In' && q.length > 0 && q.t < p.t));
    if (getOut === undefined) {
      skip('upstream: no GET after an answer');
      continue;
    }
    const firstOut = mine.find((p) => p.dir === 'Out' && marks(p));
    const answers = mine.filter((p) => p.dir === 'In' && p.length > 0 && p.t <= getOut.t);
    const responseIn = mine.find((p) => p.dir === 'In' && p.length > 0 && p.t > getOut.t);
    const finIn = mine.find((p) => p.dir === 'In' && p.flags.includes('F'));
    if (firstOut === undefined || answers.length === 0 || responseIn === undefined || finIn === undefined) {
      skip(answers.length === 0 ? 'upstream: no answer before the GET' : responseIn === undefined ? 'upstream: no response' : 'upstream: no FIN in (reset?)');
      continue;
    }
    const timeline = [...c.filter((p) => p.t <= finOut.t), ...mine.filter((p) => p.t <= finOut.t)].filter(marks).sort((a, b) => a.t - b.t);
    let relay = 0;
    let others = 0;
    const waits = new Map<(typeof WAITS)[number], number>(WAITS.map((w) => [w, 0]));
    for (let i = 1; i < timeline.length; i++) {
      const p = timeline[i]!;
      const gap = p.t - timeline[i - 1]!.t;
      if (p.dir === 'Out') {
        relay += gap;
        continue;
      }
      others += gap;
      const wait = c.includes(p) ? 'w:client' : p.flags.includes('F') ? 'w:fin' : p.t <= getOut.t ? 'w:answer' : 'w:response';
      waits.set(wait, waits.get(wait)! + gap);
    }
    tries.push(
      new Map<Stage, number>([
        ['accept', firstOut.t - syn.t],
        ['attach', getOut.t - answers.at(-1)!.t],
        ['down', responseOut.t - responseIn.t],
        ['close', finOut.t - finIn.t],
        ['relay', relay],
        ['others', others],
        ...waits,
        ['total', finOut.t - syn.t],
      ]),
    );
  }
  return tries;
}

/** CPU time of every thread of a process so far, ms (/proc/<pid>/task/<tid>/schedstat, first field ns). */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return ns / 1e6;
}

/** User and system CPU time of a process so far (all threads), ms, from /proc/<pid>/stat (10 ms ticks). */
function userSystemMs(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return [fields[11]! * 10, fields[12]! * 10];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
}

async function main(): Promise<void> {
  const triesArg = process.argv.indexOf('--tries');
  const tries = triesArg === -1 ? 200 : Number(process.argv[triesArg + 1]);
  if (!(tries >= 10 && tries <= 2000)) throw new Error('--tries must be 10-2000');
  // --gap <ms>: a pause between tries, so that nothing of the previous connection runs at the next one's accept.
  const gapArg = process.argv.indexOf('--gap');
  const pauseMs = gapArg === -1 ? 0 : Number(process.argv[gapArg + 1]);
  if (!(pauseMs >= 0 && pauseMs <= 1000)) throw new Error('--gap must be 0-1000 (ms)');
  execFileSync('npx', ['tsc', '-b', 'services/forwarder', 'services/agent'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 240_000 });
  const cleanups: (() => Promise<void> | void)[] = [];
  const result: Record<string, Record<Stage, number> & { tries: number }> = {};
  let profileLines: string[] = [];
  try {
    const lab = await createLab({ clients: 4, proxies: ['socks5', 'http'] });
    cleanups.push(() => lab.destroy());
    const tdb = await createTestDatabase({ prefix: 'pgw_bench_fwtl' });
    cleanups.push(() => tdb.drop());
    const lan = new LanClient(lab.ns.lan);
    cleanups.push(() => lan.close());
    await lan.ready;
    const dante = lab.proxies.find((p) => p.kind === 'socks5') as ProxyHandle;
    const tinyproxy = lab.proxies.find((p) => p.kind === 'http') as ProxyHandle;
    // PGW_FORWARDER_* in this environment (RELAY, WARM_POOL...) reach the forwarder: A/B runs on one machine.
    const relayEnv = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k.startsWith('PGW_FORWARDER_') && v !== undefined)) as Record<string, string>;
    const gateway = new Gateway(lab, tdb, { env: { forwarder: relayEnv } });
    cleanups.push(() => gateway.destroy());
    await gateway.seedMapping(CLIENT.pgwSocks5, await gateway.seedProxy(dante, { status: 'up' }), 20010);
    await gateway.seedMapping(CLIENT.pgwHttp, await gateway.seedProxy(tinyproxy, { status: 'up' }), 20011);
    const profile = process.argv.includes('--profile') ? join(mkdtempSync(join(tmpdir(), 'pgw-fw-timeline-')), 'forwarder.cpuprofile') : null;
    if (profile !== null) {
      // The forwarder runs as uid pgw, which cannot enter a root-only temporary directory.
      chmodSync(join(profile, '..'), 0o777);
      cleanups.push(() => rmSync(join(profile, '..'), { recursive: true, force: true }));
    }
    const preload = fileURLToPath(new URL('./cpu-profile-preload.cjs', import.meta.url));
    // With PGW_TIMELINE_PERF, V8 writes /tmp/perf-<pid>.map so that perf names the JavaScript functions too.
    const perfFlags = process.env.PGW_TIMELINE_PERF === undefined ? '' : '--perf-basic-prof --interpreted-frames-native-stack';
    const forwarder = await gateway.start('forwarder', profile === null ? (perfFlags === '' ? {} : { NODE_OPTIONS: perfFlags }) : { NODE_OPTIONS: `--require ${preload} ${perfFlags}`.trim(), PGW_BENCH_CPU_PROFILE: profile });
    const { ip, httpPort } = lab.description.internet;
    const request = `GET /ip HTTP/1.1\r\nHost: ${ip}\r\nConnection: close\r\n\r\n`;
    const run = async (label: string, client: string, proxy: ProxyHandle, pid: number) => {
      const target = { src: client, host: ip, port: httpPort, request, timeoutMs: 5_000, pauseMs };
      // Untimed and without the gap: the forwarder's path compiled before it is timed (jit-warmup.ts).
      await lan.run({ op: 'latency', ...target, pauseMs: 0, count: FORWARDER_WARMUP, concurrency: 1 }, 120_000);
      const capture = await lab.capture({ ns: lab.ns.gateway, iface: 'any', filter: 'tcp' });
      // PGW_TIMELINE_PERF=<file>: perf record of the relay process through the pgw socks5 tries (V8's own C++ and the kernel resolved).
      const perfFile = process.env.PGW_TIMELINE_PERF;
      const perf = perfFile !== undefined && label === 'pgw socks5' ? spawn('perf', ['record', '-F', '2000', '-g', '-p', String(pid), '-o', perfFile], { stdio: 'ignore' }) : null;
      if (perf !== null) await new Promise((resolve) => setTimeout(resolve, 1000));
      const cpuBefore = cpuMs(pid);
      const [userBefore, systemBefore] = userSystemMs(pid);
      const measured = await lan.run({ op: 'latency', ...target, count: tries, concurrency: 1 }, 120_000);
      const cpu = (cpuMs(pid) - cpuBefore) / tries;
      const [userAfter, systemAfter] = userSystemMs(pid);
      if (perf !== null) {
        perf.kill('SIGINT');
        await new Promise((resolve) => perf.once('exit', resolve));
      }
      const userSystem = `user ${((userAfter - userBefore) / tries).toFixed(3)} + system ${((systemAfter - systemBefore) / tries).toFixed(3)} ms CPU per try`;
      const skipped = new Map<string, number>();
      const found = stagesOf(parse(await capture.stop()), client, `${proxy.ip}.${proxy.port}`, Buffer.byteLength(request), skipped);
      const row = Object.fromEntries(STAGES.filter((s) => s !== 'cpu').map((s) => [s, Math.round(median(found.map((f) => f.get(s)!)) * 1000) / 1000])) as Record<Stage, number>;
      result[label] = { ...row, cpu: Math.round(cpu * 1000) / 1000, tries: found.length };
      process.stderr.write(`${label}: ${found.length}/${tries} tries matched (${[...skipped].map(([why, n]) => `${why}: ${n}`).join(', ') || 'all'}), client-side p50 ${median(measured.samples ?? []).toFixed(3)} ms, ${userSystem} (load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})\n`);
    };

    for (const mode of process.argv.includes('--tproxy') ? (['dnat', 'tproxy'] as const) : (['dnat'] as const)) {
      // Written behind the api's back: the agent reads it when it starts.
      await tdb.db.updateTable('settings').set({ interceptMode: mode }).where('id', '=', 1).execute();
      await gateway.start('agent', BENCH_AGENT_ENV);
      await waitInterceptMode(lab, mode);
      await waitEffective(lab, [[CLIENT.pgwSocks5, dante], [CLIENT.pgwHttp, tinyproxy]]);
      const label = mode === 'dnat' ? 'pgw' : 'pgw-tproxy';
      await run(`${label} socks5`, CLIENT.pgwSocks5, dante, forwarder.pid);
      await run(`${label} http`, CLIENT.pgwHttp, tinyproxy, forwarder.pid);
      await gateway.stop('agent');
      // Back to a gateway without pgw: the next mode's agent, or redsocks, starts from none of its state.
      await gatewayWithoutPgw(lab);
    }
    if (profile !== null) {
      await gateway.stop('forwarder');
      if (!existsSync(profile)) throw new Error(`the forwarder wrote no profile to ${profile}`);
      profileLines = ['self time:', ...summariseProfile(profile, 30), 'total time:', ...inclusiveProfile(profile, 60)];
    }
    const redsocks = await startRedsocks(lab, [
      { client: CLIENT.redsocksSocks5, localPort: 12345, proxy: { ip: dante.ip, port: dante.port, type: 'socks5' } },
      { client: CLIENT.redsocksHttp, localPort: 12346, proxy: { ip: tinyproxy.ip, port: tinyproxy.port, type: 'http-connect' } },
    ]);
    try {
      await run('redsocks socks5', CLIENT.redsocksSocks5, dante, redsocks.process.pid);
      await run('redsocks http', CLIENT.redsocksHttp, tinyproxy, redsocks.process.pid);
    } finally {
      await redsocks.stop();
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch((error: Error) => process.stderr.write(`cleanup: ${error.message}\n`));
  }
  console.log(`\nmedian ms per stage (${tries} sequential tries per row; relay ${process.env.PGW_FORWARDER_RELAY ?? 'default'}):`);
  console.log(`| row | ${STAGES.join(' | ')} |`);
  console.log(`|---|${STAGES.map(() => '---').join('|')}|`);
  for (const [label, row] of Object.entries(result)) console.log(`| ${label} | ${STAGES.map((s) => row[s].toFixed(3)).join(' | ')} |`);
  if (profileLines.length > 0) console.log(`\nforwarder CPU profile over its whole life (pgw rows):\n${profileLines.join('\n')}`);
  console.log(JSON.stringify({ bench: 'forwarder-timeline', at: new Date().toISOString(), relay: process.env.PGW_FORWARDER_RELAY ?? 'default', tries, result }));
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(`forwarder timeline failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
