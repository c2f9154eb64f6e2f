// UDP through a SOCKS5 proxy's UDP relay (issue 15), measured in the lab: echo round trips (p50,
// p99) from the gateway namespace to the WAN's UDP echo, direct and through dante's UDP
// ASSOCIATE (packages/dialers Socks5UdpAssociation, the upstream half of pgw's UDP path).
// Not measured yet, and said so in the JSON: the pgw rows (a LAN client's UDP through the gateway:
// the forwarder does not relay UDP yet) and iperf3 -u throughput.
// Ends with one JSON line. Usage: npm run bench:udp [-- --count 500]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLab } from '../../lab/index.js';

const { values: args } = parseArgs({ options: { count: { type: 'string', default: '500' } } });
const COUNT = Number(args.count);
if (!Number.isInteger(COUNT) || COUNT < 10 || COUNT > 10_000) throw new Error(`--count must be 10..10000 (is ${args.count})`);
const PROBE = fileURLToPath(new URL('./udp-probe.ts', import.meta.url));
const loadavg = () => execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
const round = (value: number) => Math.round(value * 1000) / 1000;

function percentiles(rtts: number[]): { p50: number | null; p99: number | null } {
  const sorted = [...rtts].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? null : round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!));
  return { p50: at(0.5), p99: at(0.99) };
}

const lab = await createLab({ clients: 1, proxies: ['socks5'] });
try {
  const proxy = lab.proxies[0]!;
  const loadBefore = loadavg();
  const input = { proxy: { protocol: 'socks5', host: proxy.ip, port: proxy.port }, echo: { host: lab.description.internet.ip, port: lab.description.internet.udpEchoPort }, count: COUNT };
  const run = await lab.exec(lab.ns.gateway, [process.execPath, '--conditions=pgw-source', '--import', import.meta.resolve('tsx'), PROBE, JSON.stringify(input)], { timeoutMs: 10 * 60_000 });
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<'direct' | 'socks5Udp', { rtts: number[]; lost: number }>;
  const loadAfter = loadavg();
  const rows = Object.fromEntries(Object.entries(out).map(([path, r]) => [path, { ...percentiles(r.rtts), lost: r.lost, count: COUNT }]));
  console.log(`UDP echo round trips, ${COUNT} each, sequential (load ${loadBefore} -> ${loadAfter}):`);
  for (const [path, r] of Object.entries(rows)) console.log(`  ${path.padEnd(10)} p50 ${r.p50} ms  p99 ${r.p99} ms  lost ${r.lost}`);
  console.log(JSON.stringify({ bench: 'udp', count: COUNT, echo: rows, pgw: null, iperf3Udp: null, notMeasured: 'pgw rows and iperf3 -u: the forwarder does not relay client UDP yet (issue 15 item 2)', load: { before: loadBefore, after: loadAfter } }));
} finally {
  await lab.destroy();
}
