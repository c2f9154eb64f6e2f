// UDP through a SOCKS5 proxy's UDP relay (issue 15), measured in the lab: echo round trips (p50,
// p99) to the WAN's UDP echo and iperf3 -u throughput, direct (the gateway namespace, no proxy),
// through dante's UDP ASSOCIATE from the gateway (packages/dialers Socks5UdpAssociation alone), and
// pgw (a LAN client in TPROXY mode: nft tproxy -> the agent's transparent socket -> the forwarder
// -> dante's UDP relay -> the echo; answers back through the agent-made reply socket).
// Ends with one JSON line. Usage: npm run bench:udp [-- --count 500 --iperf-seconds 5 --iperf-rate 200M]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createDataplane, REPO } from '../e2e/dataplane-harness.js';

const { values: args } = parseArgs({ options: { count: { type: 'string', default: '500' }, 'iperf-seconds': { type: 'string', default: '5' }, 'iperf-rate': { type: 'string', default: '200M' } } });
const COUNT = Number(args.count);
const IPERF_SECONDS = Number(args['iperf-seconds']);
const IPERF_RATE = args['iperf-rate']!;
if (!Number.isInteger(COUNT) || COUNT < 10 || COUNT > 10_000) throw new Error(`--count must be 10..10000 (is ${args.count})`);
if (!Number.isInteger(IPERF_SECONDS) || IPERF_SECONDS < 1 || IPERF_SECONDS > 60) throw new Error(`--iperf-seconds must be 1..60 (is ${args['iperf-seconds']})`);
if (!/^\d+[KMG]?$/.test(IPERF_RATE)) throw new Error(`--iperf-rate must be like 200M (is ${IPERF_RATE})`);
const PROBE = fileURLToPath(new URL('./udp-probe.ts', import.meta.url));
const CLIENT = '192.168.2.10';
const loadavg = () => execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
const round = (value: number) => Math.round(value * 1000) / 1000;

function percentiles(rtts: number[]): { p50: number | null; p99: number | null } {
  const sorted = [...rtts].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? null : round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!));
  return { p50: at(0.5), p99: at(0.99) };
}

interface IperfRow {
  sentMbit: number;
  receivedMbit: number;
  lostPercent: number;
}

const dp = await createDataplane({ clients: 1, proxies: ['socks5'] });
try {
  execFileSync('npx', ['tsc', '-b', 'services/forwarder'], { cwd: REPO, stdio: 'inherit', timeout: 240_000 });
  const { lab } = dp;
  const proxy = lab.proxies[0]!;
  const echo = { host: lab.description.internet.ip, port: lab.description.internet.udpEchoPort };
  const probe = async (ns: string, extra: Record<string, unknown>) => {
    const input = { proxy: { protocol: 'socks5', host: proxy.ip, port: proxy.port }, echo, count: COUNT, ...extra };
    const run = await lab.exec(ns, [process.execPath, '--conditions=pgw-source', '--import', import.meta.resolve('tsx'), PROBE, JSON.stringify(input)], { timeoutMs: 10 * 60_000 });
    return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, { rtts: number[]; lost: number }>;
  };
  const iperf = async (ns: string, bind: string | null): Promise<IperfRow> => {
    const { ip, iperfPort } = lab.description.internet;
    const argv = ['iperf3', '-c', ip, '-p', String(iperfPort), '-u', '-b', IPERF_RATE, '-t', String(IPERF_SECONDS), '-J', ...(bind ? ['-B', bind] : [])];
    const run = await lab.exec(ns, argv, { timeoutMs: (IPERF_SECONDS + 30) * 1000, reject: false });
    const json = JSON.parse(run.stdout || '{}') as { error?: string; end?: { sum?: { bits_per_second: number; lost_percent: number }; sum_sent?: { bits_per_second: number }; sum_received?: { bits_per_second: number } } };
    if (json.error || !json.end?.sum) throw new Error(`iperf3 -u from ${ns}: ${json.error ?? run.stderr}`);
    const sum = json.end.sum;
    const sent = json.end.sum_sent?.bits_per_second ?? sum.bits_per_second;
    const received = json.end.sum_received?.bits_per_second ?? sum.bits_per_second * (1 - sum.lost_percent / 100);
    return { sentMbit: round(sent / 1e6), receivedMbit: round(received / 1e6), lostPercent: round(sum.lost_percent) };
  };

  const loadBefore = loadavg();
  // From the gateway namespace before the agent runs: its strict OUTPUT lets no root process reach the WAN.
  const gatewaySide = await probe(lab.ns.gateway, {});
  const iperfDirect = await iperf(lab.ns.gateway, null);
  await dp.tdb.db.updateTable('settings').set({ interceptMode: 'tproxy', strictOutput: true, dnsMode: 'proxy' }).where('id', '=', 1).execute();
  await dp.addMapping(CLIENT, await dp.addProxy(0, 'up'), 20010);
  await dp.startAgent();
  await dp.waitFor('the agent to apply the mapping', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([CLIENT]));
  await dp.gateway.start('forwarder');
  const pgwSide = await probe(lab.ns.lan, { plainFrom: CLIENT });
  const results = { direct: gatewaySide.direct!, socks5Udp: gatewaySide.socks5Udp!, pgw: pgwSide.plain! };
  const iperf3Udp = { direct: iperfDirect, pgw: await iperf(lab.ns.lan, CLIENT) };
  const loadAfter = loadavg();
  const rows = Object.fromEntries(Object.entries(results).map(([path, r]) => [path, { ...percentiles(r.rtts), lost: r.lost, count: COUNT }]));
  console.log(`UDP echo round trips, ${COUNT} each, sequential (load ${loadBefore} -> ${loadAfter}):`);
  for (const [path, r] of Object.entries(rows)) console.log(`  ${path.padEnd(10)} p50 ${r.p50} ms  p99 ${r.p99} ms  lost ${r.lost}`);
  console.log(`iperf3 -u -b ${IPERF_RATE} for ${IPERF_SECONDS} s (pgw: from the LAN client through dante's UDP relay):`);
  for (const [path, r] of Object.entries(iperf3Udp)) console.log(`  ${path.padEnd(10)} sent ${r.sentMbit} Mbit/s  received ${r.receivedMbit} Mbit/s  lost ${r.lostPercent} %`);
  console.log(JSON.stringify({ bench: 'udp', count: COUNT, echo: rows, iperf3Udp: { rate: IPERF_RATE, seconds: IPERF_SECONDS, ...iperf3Udp }, load: { before: loadBefore, after: loadAfter } }));
} finally {
  await dp.destroy();
}
