// Flows 23 and 25 of docs/SECURITY.md: each mapped client's tracked connections are capped
// (PGW_FLOWS_PER_CLIENT), and its new TCP connections a second limited (PGW_TCP_NEW_PER_CLIENT). One client's flood of new connections (SYNs it never completes, as an
// attacker's host does by dropping the answers) filled the gateway's conntrack table, after which
// the kernel drops every client's new connections: a denial of service of the whole LAN by one host.
// Real agent and nft in the lab; the client's SYNs crafted on a raw socket. The mapped ports are the
// agent's own listening sockets (no forwarder): each SYN is answered, and tracked, as it would be.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { scrapeMetrics } from '../bench/forwarder/gateway-probes.js';
import { metricSum } from '../support/prometheus-text.js';
import { AGENT_METRICS_PORT, createDataplane, type Dataplane } from './dataplane-harness.js';

const FLOODER = '192.168.2.10';
const NEIGHBOUR = '192.168.2.11';
const PORTS = { [FLOODER]: 20010, [NEIGHBOUR]: 20011 } as const;
const CAP = 16;
const SYNS = 300;
/** Flow 25's rate in the last case: well under the flood's, above what the prober needs. */
const RATE = 50;

/** SYNs from `src` to dst:port, each from its own source port, on a raw socket (no socket of the client's kernel owns them). */
const SYN_FLOOD = `
import random, socket, struct, sys
src, dst, port, count, first = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def checksum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff); t += t >> 16
    return (~t) & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.bind((src, 0))
for i in range(count):
    sport = first + i
    header = struct.pack('!HHIIBBHHH', sport, port, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, socket.IPPROTO_TCP, len(header))
    header = header[:16] + struct.pack('!H', checksum(pseudo + header)) + header[18:]
    s.sendto(header, (dst, 0))
`;

let dp: Dataplane;
let internet: string;
let httpPort: number;

const agentMetrics = () => scrapeMetrics(dp.gw, AGENT_METRICS_PORT);

const tracked = async (src: string) => {
  const r = await dp.lab.exec(dp.gw, ['conntrack', '-L', '-p', 'tcp', '-s', src], { reject: false });
  return r.stdout.split('\n').filter((l) => l.startsWith('tcp')).length;
};
const forget = (src: string) => dp.lab.exec(dp.gw, ['conntrack', '-D', '-s', src], { reject: false });

async function flood(firstPort: number): Promise<void> {
  await dp.lab.exec(dp.lab.ns.lan, ['/usr/bin/python3', '-c', SYN_FLOOD, FLOODER, internet, String(httpPort), String(SYNS), String(firstPort)]);
  await new Promise((resolve) => setTimeout(resolve, 300));
}

/** The highest rate (PGW_TCP_NEW_PER_CLIENT): the flow 23 cases count every SYN the cap lets through. */
const NO_RATE = 100_000;

async function startAgent(cap: number, rate = NO_RATE): Promise<void> {
  await dp.gateway.stop('agent').catch(() => undefined);
  // A sample a second: the refusals' metrics follow it.
  dp.agent = await dp.gateway.start('agent', { PGW_FLOWS_PER_CLIENT: String(cap), PGW_TCP_NEW_PER_CLIENT: String(rate), PGW_USAGE_INTERVAL_MS: '1000' });
  // The table the previous agent left stays in force until this one's first apply: wait for its cap and rate.
  await dp.waitFor(`the cap of ${cap} and the rate of ${rate} in force`, async () => {
    const chain = (await dp.nft('list', 'chain', 'inet', 'pgw', 'from_lan')).stdout;
    return chain.includes(`ct count over ${cap} `) && chain.includes(`limit rate over ${rate}/second `);
  }, 20_000);
  await dp.waitFor('both clients mapped', async () => (await dp.setElements('lan_mapped'))?.length === 2, 20_000);
}

describe('flows 23 and 25: a cap on each client\'s tracked connections, a rate of its new ones', { timeout: 240_000 }, () => {
  before(async () => {
    dp = await createDataplane({ clients: 4, proxies: ['socks5'] });
    internet = dp.lab.description.internet.ip;
    httpPort = dp.lab.description.internet.httpPort;
    await dp.loadGuard();
    // The refusals per client too (they are summed over all clients without it).
    await dp.tdb.db.updateTable('settings').set({ perClientMetrics: true }).where('id', '=', 1).execute();
    const up = await dp.addProxy(0, 'up');
    for (const [ip, port] of Object.entries(PORTS)) await dp.addMapping(ip, up, port);
    // The flooder's host drops what the gateway answers, as an attacker's does: its kernel's resets
    // would end each half-open connection at once.
    await dp.lab.exec(dp.lab.ns.lan, ['nft', '-f', '-'], { input: `table inet flood {\n\tchain out {\n\t\ttype filter hook output priority 0; policy accept;\n\t\tip saddr ${FLOODER} tcp flags rst drop\n\t}\n}\n` });
  });
  after(async () => {
    await dp?.destroy();
  });

  it(`positive control: with the highest cap (65536), ${SYNS} SYNs leave ${SYNS} half-open connections tracked`, async () => {
    await startAgent(65_536);
    await forget(FLOODER);
    await flood(10_000);
    const count = await tracked(FLOODER);
    console.log(`# cap 65536: ${count} connections of the flooder tracked after ${SYNS} SYNs`);
    assert.ok(count >= SYNS * 0.9, `the flood is tracked without the cap: ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // a sample after the flood
    assert.equal(metricSum(await agentMetrics(), 'pgw_clients_over_flow_cap_total'), 0, 'nothing refused below the cap');
  });

  it(`with a cap of ${CAP}: the flood leaves at most ${CAP} tracked, the rest refused with a reset; the neighbour connects meanwhile, the flooder again once its connections end`, async () => {
    await startAgent(CAP);
    await forget(FLOODER);
    await flood(20_000);
    const count = await tracked(FLOODER);
    console.log(`# cap ${CAP}: ${count} connections of the flooder tracked after ${SYNS} SYNs`);
    assert.ok(count <= CAP, `at most the cap tracked: ${count}`);
    assert.ok(count >= CAP - 2, `the cap is reached, not halved nor everything refused: ${count}`);
    // Refused by flow 23's rule, not anything else on the way.
    const rule = (await dp.nft('list', 'chain', 'inet', 'pgw', 'from_lan')).stdout.split('\n').find((l) => l.includes('ct count over'));
    const refused = Number(/counter packets (\d+)/.exec(rule ?? '')?.[1] ?? NaN);
    assert.ok(refused >= SYNS - CAP, `the cap's rule refused the rest: ${rule}`);
    // The operator sees it: counted for all clients, per client with per_client_metrics, the client named in the log.
    let metrics = '';
    await dp.waitFor('the refusals in the agent\'s metrics', async () => metricSum((metrics = await agentMetrics()), 'pgw_clients_over_flow_cap_total') >= SYNS - CAP, 10_000);
    assert.ok(metricSum(metrics, 'pgw_client_over_flow_cap_total', { client: FLOODER }) >= SYNS - CAP, 'counted for the flooder');
    assert.equal(metricSum(metrics, 'pgw_client_over_flow_cap_total', { client: NEIGHBOUR }), 0, 'nothing for the neighbour');
    const refusalLines = () => readFileSync(dp.agent!.logFile, 'utf8').split('\n').filter((l) => l.includes('refused new connections at their cap'));
    await dp.waitFor('the flooder named in the agent\'s log', async () => refusalLines().some((l) => l.includes(`"${FLOODER}"`) && !l.includes(`"${NEIGHBOUR}"`)), 5_000);
    // Held at its cap: its next connection is refused at once (a reset, not a timeout).
    assert.equal((await dp.prober.tcp(FLOODER, internet, httpPort, 1000)).result, 'refused');
    // The neighbour is unaffected: its own count.
    assert.equal((await dp.prober.tcp(NEIGHBOUR, internet, httpPort, 1000)).result, 'connected');
    // Once the half-open connections end (here: removed, as their 60 s timeout would), the flooder
    // connects again: within about a second (the refused ones' stale counts go at the set's next
    // garbage collection).
    await forget(FLOODER);
    const again = await dp.prober.until(FLOODER, internet, httpPort, 'connected', 5_000);
    assert.equal(again.gaveUp, undefined, `the flooder connects again once its connections are gone: ${JSON.stringify(again)}`);
  });

  it(`with a rate of ${RATE} new connections a second: a flood of ${SYNS} SYNs leaves about one second's worth tracked, the rest dropped in the kernel; the neighbour connects meanwhile, the flooder again a second later`, async () => {
    // The cap out of the way (its highest): what is refused here is the rate's.
    await startAgent(65_536, RATE);
    await forget(FLOODER);
    const started = Date.now();
    await flood(30_000);
    const floodSeconds = (Date.now() - started) / 1000;
    const count = await tracked(FLOODER);
    console.log(`# rate ${RATE}/s: ${count} connections of the flooder tracked after ${SYNS} SYNs in ${floodSeconds.toFixed(2)} s (flood and the 0.3 s after it)`);
    // The burst (one second's worth) and what the rate let through while the flood lasted, at most.
    assert.ok(count <= RATE + Math.ceil(RATE * floodSeconds) + 2, `about a second's worth tracked: ${count}`);
    assert.ok(count >= RATE - 2, `the burst passes, not everything dropped: ${count}`);
    const rule = (await dp.nft('list', 'chain', 'inet', 'pgw', 'from_lan')).stdout.split('\n').find((l) => l.includes('@tcp_new_rate'));
    const dropped = Number(/counter packets (\d+)/.exec(rule ?? '')?.[1] ?? NaN);
    assert.ok(dropped >= SYNS - count - 2, `the rate's rule dropped the rest: ${rule}`);
    // The operator sees it, as flow 23's refusals: counted for all clients, per client, the client named in the log.
    let metrics = '';
    await dp.waitFor('the drops in the agent\'s metrics', async () => metricSum((metrics = await agentMetrics()), 'pgw_clients_over_tcp_rate_total') >= SYNS - count - 2, 10_000);
    assert.ok(metricSum(metrics, 'pgw_client_over_tcp_rate_total', { client: FLOODER }) >= SYNS - count - 2, 'counted for the flooder');
    assert.equal(metricSum(metrics, 'pgw_client_over_tcp_rate_total', { client: NEIGHBOUR }), 0, 'nothing for the neighbour');
    const dropLines = () => readFileSync(dp.agent!.logFile, 'utf8').split('\n').filter((l) => l.includes('faster than their rate'));
    await dp.waitFor('the flooder named in the agent\'s log', async () => dropLines().some((l) => l.includes(`"${FLOODER}"`) && l.includes(`"ratePerSecond":${RATE}`)), 5_000);
    // The neighbour has its own bucket.
    assert.equal((await dp.prober.tcp(NEIGHBOUR, internet, httpPort, 1000)).result, 'connected');
    // Dropped, not refused: the flooder's next connection within the second is answered by its SYN's
    // retransmission once the bucket refills (a burst slowed, not failed).
    const again = await dp.prober.until(FLOODER, internet, httpPort, 'connected', 5_000);
    assert.equal(again.gaveUp, undefined, `the flooder connects again: ${JSON.stringify(again)}`);
  });
});
