// Client UDP in TPROXY mode (issue 15): relayed through the client's own SOCKS5 proxy (one UDP
// ASSOCIATE per client flow), never directly. Real nftables, the real agent (it makes the
// transparent UDP sockets) and forwarder (no capability) in a lab with dante and tinyproxy,
// strict OUTPUT on, dnsMode proxy. A client whose proxy carries no UDP (tinyproxy, a SOCKS5 server
// refusing ASSOCIATE) gets its UDP dropped, but its UDP DNS answered over TCP through a tunnel of
// its proxy; with dnsUpstream set, DNS to any address goes to that resolver through the proxy.
// The capture on the gateway's eth0 must show no packet with a client address and nothing but
// traffic with the proxies (so no DNS outside a proxy connection); the same dataplane harness as
// tproxy-dataplane.test.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { encryptSecret } from '@pgw/crypto';
import { connectRedis, forwarderStatusKey } from '@pgw/events';
import { scrapeMetrics } from '../bench/forwarder/gateway-probes.js';
import { metricSum } from '../support/prometheus-text.js';
import { DEFAULT_NODE } from '../support/node-status.js';
import { addWanAddress, startNpmSocks5, startOdd } from '../../lab/interop-proxies.js';
import type { ProxyHandle } from '../../lab/types.js';
import { createDataplane, type Dataplane, REPO, type WanAnalysis } from './dataplane-harness.js';

const ON_DANTE = '192.168.2.10';
const ON_HTTP = '192.168.2.11';
const ON_NO_UDP = '192.168.2.12';
/** A SOCKS5 server without UDP ASSOCIATE (the npm one of the interop matrix). */
const NO_UDP_PROXY = '198.51.100.60';
const ON_PRIVATE_RELAY = '192.168.2.13';
/** A SOCKS5 server naming a UDP relay at a private address (as one behind NAT names its own). */
const PRIVATE_RELAY_PROXY = '198.51.100.61';
const ON_UDP_CLOSES = '192.168.2.14';
/** A SOCKS5 server hanging up on UDP ASSOCIATE. */
const UDP_CLOSES_PROXY = '198.51.100.62';
const ON_RELAY_ELSEWHERE = '192.168.2.15';
/** A SOCKS5 server naming its UDP relay at another public address (198.51.100.199). */
const RELAY_ELSEWHERE_PROXY = '198.51.100.63';
/** The mapped clients, as the agent's lan_mapped set lists them. */
const MAPPED = [ON_DANTE, ON_HTTP, ON_NO_UDP, ON_PRIVATE_RELAY, ON_UDP_CLOSES, ON_RELAY_ELSEWHERE];
const FORWARDER_METRICS_PORT = 9102;
/** A WAN address where no resolver runs: answered only when dnsUpstream sends the query elsewhere. */
const NO_RESOLVER = '203.0.113.99';
let dp: Dataplane;
let danteProxy: number;
let httpMapping: number;
let noUdpMapping: number;
let privateRelayMapping: number;
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/**
 * Runs in the LAN namespace: one UDP query `whoami.pgw.test TXT` from argv[1] (port argv[4], else any)
 * to argv[2]:argv[3], as `dig TXT whoami.pgw.test @server -b src` would; prints the TXT string,
 * `timeout` or an error code. Two runs from the same port are one flow for the forwarder.
 */
const UDP_DNS_QUERY = `
const [src, host, port, sport] = process.argv.slice(1);
const name = Buffer.concat('whoami.pgw.test'.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])));
const query = Buffer.concat([Buffer.from([0x42, 0x43, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 0, 16, 0, 1])]);
const s = require('node:dgram').createSocket('udp4');
s.on('message', (answer, rinfo) => {
  const at = 12 + name.length + 1 + 4 + 12;
  console.log(JSON.stringify({ from: rinfo.address + ':' + rinfo.port, txt: answer.readUInt16BE(6) === 0 ? null : answer.subarray(at + 1, at + 1 + answer[at]).toString('latin1') }));
  process.exit(0);
});
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0); });
s.bind({ address: src, port: Number(sport ?? 0) }, () => s.send(query, Number(port), host));
setTimeout(() => { console.log(JSON.stringify({ txt: 'timeout' })); process.exit(0); }, 3000);
`;

/**
 * Runs in the LAN namespace: argv[3] UDP datagrams from argv[1] to argv[2], 50 ms apart, by a raw
 * socket (a UDP socket cannot send to port 0): alternately to port 0 and from port 0 (to port 7).
 */
const PORT_ZERO_FLOOD = `
import socket, struct, sys, time
src, dst, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.bind((src, 0))
payload = b'port zero'
for i in range(count):
    sport, dport = (41000 + i, 0) if i % 2 == 0 else (0, 7)
    s.sendto(struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload, (dst, 0))
    time.sleep(0.05)
`;

/** argv: source, destination, seconds. UDP to destination:9 from one port as fast as it goes; prints the count sent. */
const UDP_FLOOD = `
import socket, sys, time
src, dst, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.setblocking(False)
payload, sent, end = b'f' * 32, 0, time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(256):
        try:
            s.sendto(payload, (dst, 9))
            sent += 1
        except (BlockingIOError, PermissionError):
            pass
print(sent)
`;

/**
 * argv: source, destination, port, count. One datagram from a fixed port, a pause for the flow to
 * open (its reply socket), then `count` more as fast as they go; prints how many were sent.
 */
const ONE_FLOW_BURST = `
import socket, sys, time
src, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.sendto(b'open', (dst, port))
time.sleep(0.5)
for _ in range(count):
    s.sendto(b'b' * 32, (dst, port))
print(count)
`;

/** The drops counted on the gateway's shared transparent UDP socket (127.0.0.1:15301), /proc/net/udp's last column. */
async function sharedSocketDrops(): Promise<number> {
  const table = (await dp.lab.exec(dp.gw, ['cat', '/proc/net/udp'])).stdout;
  const line = table.split('\n').find((l) => / 0100007F:3BC5 /.test(l));
  assert.ok(line, `127.0.0.1:15301 in /proc/net/udp:\n${table}`);
  return Number(line.trim().split(/\s+/).at(-1));
}

/** What the per-client limit of unanswered UDP (flow 24) has dropped so far: its rule's counter. */
async function limitedByKernel(): Promise<number> {
  const chain = (await dp.nft('list', 'chain', 'inet', 'pgw', 'lan_tproxy')).stdout;
  const counted = /@udp_new_rate .* counter packets (\d+)/.exec(chain);
  assert.ok(counted, `the limit's rule in lan_tproxy:\n${chain}`);
  return Number(counted[1]);
}

/** Every WAN line that is neither from nor to a proxy's address (any port: a UDP relay port is the proxy's choice). */
function notWithProxies(wan: WanAnalysis): string[] {
  const proxies = [...dp.lab.proxies.map((p) => p.ip), NO_UDP_PROXY, PRIVATE_RELAY_PROXY, UDP_CLOSES_PROXY, RELAY_ELSEWHERE_PROXY];
  return wan.all.filter((l) => {
    const m = / IP (\S+) > (\S+?): /.exec(l);
    return m !== null && !proxies.some((ip) => m[1]!.startsWith(`${ip}.`) || m[2]!.startsWith(`${ip}.`));
  });
}

async function udpEcho(src: string, timeoutMs = 1500): Promise<string> {
  return (await dp.prober.udp(src, dp.lab.description.internet.ip, dp.lab.description.internet.udpEchoPort, timeoutMs)).result;
}

async function whoami(src: string, server = dp.lab.description.dns.ip, sourcePort?: number): Promise<{ from?: string; txt?: string | null; error?: string }> {
  const { port } = dp.lab.description.dns;
  const run = await dp.lab.exec(dp.lab.ns.lan, ['node', '-e', UDP_DNS_QUERY, src, server, String(port), ...(sourcePort === undefined ? [] : [String(sourcePort)])], { reject: false });
  return JSON.parse(run.stdout.trim() || '{}') as { from?: string; txt?: string | null };
}

/** A real resolver client (EDNS, cookie, random source port): `dig +short TXT whoami.pgw.test` from src; its stdout, trimmed. */
async function digWhoami(src: string): Promise<string> {
  const { ip, port } = dp.lab.description.dns;
  const run = await dp.lab.exec(dp.lab.ns.lan, ['dig', '+short', '+tries=1', '+time=3', '-b', src, '-p', String(port), `@${ip}`, 'TXT', 'whoami.pgw.test'], { reject: false });
  return run.stdout.trim();
}

/** `dig +time=2 +tries=1 TXT whoami.pgw.test @server` from src (`+tcp` among `extra` for DNS over TCP); the TXT string or dig's complaint. */
async function dig(src: string, server: string, extra: string[] = []): Promise<string> {
  const run = await dp.lab.exec(dp.lab.ns.lan, ['dig', '+short', '+time=2', '+tries=1', ...extra, '-b', src, `@${server}`, 'TXT', 'whoami.pgw.test'], { reject: false });
  return run.stdout.trim();
}

/** WAN lines of DNS: to or from port 53, or the resolver's address. */
function dnsLines(wan: WanAnalysis): string[] {
  const { ip } = dp.lab.description.dns;
  return wan.all.filter((l) => l.includes(`${ip}.`) || l.includes(`${NO_RESOLVER}.`) || /\.53[: ]/.test(l));
}

async function setDnsUpstream(value: string | null): Promise<void> {
  await dp.tdb.db.updateTable('settings').set({ dnsUpstream: value }).where('id', '=', 1).execute();
  await dp.gateway.publish({ type: 'config.changed' });
}

async function forwarderMetric(name: string, labels: Record<string, string>): Promise<number> {
  return metricSum(await scrapeMetrics(dp.gw, FORWARDER_METRICS_PORT), name, labels);
}

describe('TPROXY mode: client UDP through the client’s SOCKS5 proxy, never directly (issue 15)', { timeout: 180_000 }, () => {
  before(async () => {
    // socks5-auth: where the dante row is re-pointed (an endpoint and credentials change).
    dp = await createDataplane({ clients: 6, proxies: ['socks5', 'http', 'socks5-auth'] });
    execFileSync('npx', ['tsc', '-b', 'services/forwarder'], { cwd: REPO, stdio: 'inherit', timeout: 240_000 });
    await dp.loadGuard();
    await dp.tdb.db.updateTable('settings').set({ interceptMode: 'tproxy', strictOutput: true, dnsMode: 'proxy' }).where('id', '=', 1).execute();
    danteProxy = await dp.addProxy(0, 'up');
    const tinyproxy = await dp.addProxy(1, 'up');
    await dp.addMapping(ON_DANTE, danteProxy, 20010);
    httpMapping = await dp.addMapping(ON_HTTP, tinyproxy, 20011);
    await addWanAddress(dp.lab, NO_UDP_PROXY);
    await startNpmSocks5(dp.lab, NO_UDP_PROXY, 1080);
    const noUdp = await dp.tdb.db.insertInto('proxies').values({ name: 'npm-socks5-no-udp', protocol: 'socks5', host: NO_UDP_PROXY, port: 1080, status: 'up' }).returning('id').executeTakeFirstOrThrow();
    noUdpMapping = await dp.addMapping(ON_NO_UDP, noUdp.id, 20012);
    await addWanAddress(dp.lab, PRIVATE_RELAY_PROXY);
    await startOdd(dp.lab, 'socks5-udp-private-relay', PRIVATE_RELAY_PROXY, 1080);
    const privateRelay = await dp.tdb.db.insertInto('proxies').values({ name: 'odd-private-relay', protocol: 'socks5', host: PRIVATE_RELAY_PROXY, port: 1080, status: 'up' }).returning('id').executeTakeFirstOrThrow();
    privateRelayMapping = await dp.addMapping(ON_PRIVATE_RELAY, privateRelay.id, 20013);
    await addWanAddress(dp.lab, UDP_CLOSES_PROXY);
    await startOdd(dp.lab, 'socks5-udp-closes', UDP_CLOSES_PROXY, 1080);
    const udpCloses = await dp.tdb.db.insertInto('proxies').values({ name: 'odd-udp-closes', protocol: 'socks5', host: UDP_CLOSES_PROXY, port: 1080, status: 'up' }).returning('id').executeTakeFirstOrThrow();
    await dp.addMapping(ON_UDP_CLOSES, udpCloses.id, 20014);
    await addWanAddress(dp.lab, RELAY_ELSEWHERE_PROXY);
    await startOdd(dp.lab, 'socks5-udp-relay-elsewhere', RELAY_ELSEWHERE_PROXY, 1080);
    const relayElsewhere = await dp.tdb.db.insertInto('proxies').values({ name: 'odd-relay-elsewhere', protocol: 'socks5', host: RELAY_ELSEWHERE_PROXY, port: 1080, status: 'up' }).returning('id').executeTakeFirstOrThrow();
    await dp.addMapping(ON_RELAY_ELSEWHERE, relayElsewhere.id, 20015);
    await dp.startAgent();
    await dp.waitFor('the agent to apply the mappings', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify(MAPPED));
    await dp.gateway.start('forwarder');
  });

  after(async () => {
    await dp?.destroy();
  });

  it('the agent holds the transparent UDP socket; the forwarder (no capability) reads it; route_localnet stays 0', async () => {
    const sockets = (await dp.lab.exec(dp.gw, ['ss', '-Huanp', 'sport', '=', ':15301'])).stdout;
    assert.match(sockets, /127\.0\.0\.1:15301\s/, `bound on 127.0.0.1:15301\n${logTails()}`);
    const forwarderPid = dp.gateway.process('forwarder')!.pid;
    const caps = readFileSync(`/proc/${forwarderPid}/status`, 'utf8').split('\n').filter((l) => /^Cap(Eff|Prm)/.test(l));
    assert.deepEqual(caps.map((l) => l.split(/\s+/)[1]), ['0000000000000000', '0000000000000000'], 'the forwarder holds no capability');
    assert.equal((await dp.lab.exec(dp.gw, ['cat', '/proc/sys/net/ipv4/conf/ens19/route_localnet'])).stdout.trim(), '0');
  });

  it('a UDP echo round trip through dante; eth0 carries no client address and only traffic with the proxy', async () => {
    const capture = await dp.captureWan();
    let result = await udpEcho(ON_DANTE);
    // The forwarder asks the agent for its socket once started: a few tries at most.
    for (let i = 0; i < 10 && result !== 'reply'; i++) result = await udpEcho(ON_DANTE);
    const wan = await capture.stop();
    assert.equal(result, 'reply', `no echo (load ${loadavg()})\n${logTails()}`);
    assert.deepEqual(wan.fromClients, [], 'packets with a client address on eth0');
    assert.deepEqual(notWithProxies(wan), [], 'packets to or from other WAN hosts on eth0');
    const proxy = dp.lab.proxies[0]!;
    assert.ok(wan.all.some((l) => l.includes(`> ${proxy.ip}.`) && l.includes('UDP')), `datagrams to dante's relay:\n${wan.all.join('\n')}`);
    assert.ok((await forwarderMetric('pgw_forwarder_udp_datagrams_total', { direction: 'down' })) >= 1);
  });

  it('an answer its reply socket cannot send (netfilter drops it on the way to the client: EPERM) is dropped and counted; the forwarder lives on', async () => {
    const { udpEchoPort } = dp.lab.description.internet;
    const pid = dp.gateway.process('forwarder')!.pid;
    const before = await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'reply_send_failed' });
    // A table of the test's own in the gateway's namespace: the echo's answers to the client are dropped on output.
    const nft = async (...args: string[]) => assert.equal((await dp.nft(...args)).exitCode, 0, `nft ${args.join(' ')}`);
    await nft('add', 'table', 'ip', 'pgw_test_drop');
    try {
      await nft('add', 'chain', 'ip', 'pgw_test_drop', 'out', '{ type filter hook output priority 0 ; }');
      await nft('add', 'rule', 'ip', 'pgw_test_drop', 'out', 'ip', 'daddr', ON_DANTE, 'udp', 'sport', String(udpEchoPort), 'drop');
      assert.equal(await udpEcho(ON_DANTE, 1000), 'none');
      await dp.waitFor('the failed send to be counted', async () => (await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'reply_send_failed' })) >= before + 1, 5_000);
    } finally {
      await dp.nft('delete', 'table', 'ip', 'pgw_test_drop');
    }
    assert.equal(dp.gateway.process('forwarder')?.pid, pid, 'the same forwarder process');
    assert.ok(existsSync(`/proc/${pid}`), `the forwarder died\n${logTails()}`);
    assert.equal(await udpEcho(ON_DANTE), 'reply', 'answers reach the client again');
  });

  it('a datagram to a destination the guard refuses opens no association at the proxy: dropped and counted first', async () => {
    const started = await forwarderMetric('pgw_forwarder_udp_associations_total', { outcome: 'started' });
    const refusedBefore = await forwarderMetric('pgw_forwarder_udp_dropped_total', {});
    // Link-local (a cloud's metadata service) and a private host: each from a new client port, a new flow.
    for (const host of ['169.254.169.254', '10.20.30.40']) assert.equal((await dp.prober.udp(ON_DANTE, host, 7, 300)).result, 'none', host);
    await dp.waitFor('both drops to be counted', async () => (await forwarderMetric('pgw_forwarder_udp_dropped_total', {})) >= refusedBefore + 2, 5_000);
    assert.equal(await forwarderMetric('pgw_forwarder_udp_associations_total', { outcome: 'started' }), started, 'no UDP ASSOCIATE for a refused destination');
  });

  it("one client's UDP flood at a refused destination (each datagram on the shared socket: no flow opens) does not starve another client's new flows; the kernel limits it per client", async () => {
    const memory = (await dp.lab.exec(dp.gw, ['ss', '-Huam', 'sport', '=', ':15301'])).stdout;
    assert.ok(Number(/\brb(\d+)/.exec(memory)?.[1] ?? 0) >= 4 * 1024 * 1024, `the shared socket's receive buffer (4 MiB asked, the kernel doubles it): ${memory}`);
    const dropsBefore = await sharedSocketDrops();
    const limitedBefore = await limitedByKernel();
    // Two senders of one client, 4 s: a refused destination never gets a reply socket, so every
    // datagram lands on the one socket every client's first datagram of a flow shares.
    const floods = [0, 1].map(() => dp.lab.exec(dp.lab.ns.lan, ['python3', '-c', UDP_FLOOD, ON_UDP_CLOSES, '10.255.0.1', '4'], { reject: false }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const echoes: string[] = [];
    for (let i = 0; i < 10; i++) echoes.push(await udpEcho(ON_DANTE, 1000));
    const sent = (await Promise.all(floods)).map((run) => Number(run.stdout.trim()));
    const drops = (await sharedSocketDrops()) - dropsBefore;
    const limited = (await limitedByKernel()) - limitedBefore;
    console.log(`# flood: ${sent.join(' + ')} datagrams sent in 4 s, ${limited} dropped by the kernel's limit; shared socket drops ${drops}; echoes ${echoes.join(' ')} (load ${loadavg()})`);
    assert.ok(sent.every((n) => n > 10_000), `the flood ran: ${sent.join(', ')}`);
    assert.deepEqual(echoes, Array(10).fill('reply'), `another client's new flows lost datagrams beside the flood\n${logTails()}`);
    assert.equal(drops, 0, 'the shared socket dropped datagrams (any client\'s)');
    assert.ok(limited > 10_000, `the kernel dropped ${limited} of ${sent[0]! + sent[1]!} flood datagrams`);
  });

  it("the limit is only for datagrams bound for the shared socket: a flow's own datagrams, on its reply socket, are not limited before an answer", async () => {
    const limitedBefore = await limitedByKernel();
    // A port nothing answers on: the flow opens (its association, its reply socket), no answer comes back.
    const run = await dp.lab.exec(dp.lab.ns.lan, ['python3', '-c', ONE_FLOW_BURST, ON_DANTE, dp.lab.description.internet.ip, '9', '2000'], { reject: false });
    assert.equal(run.stdout.trim(), '2000', run.stderr);
    const limited = (await limitedByKernel()) - limitedBefore;
    console.log(`# 2000 datagrams of one opened, unanswered flow: ${limited} dropped by the limit`);
    assert.ok(limited < 100, `the limit dropped ${limited} datagrams of a flow with its own reply socket`);
  });

  it('datagrams to or from port 0 (crafted, a raw socket) are dropped and counted; the agent\'s UDP socket channel stays up, so other new flows keep their answers', async () => {
    const before = await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'invalid_port' });
    // The agent refuses a reply socket for port 0 by closing the whole channel: every client's
    // new flow then lost its answers until the forwarder reconnected (250 ms), again per datagram.
    const flood = dp.lab.exec(dp.lab.ns.lan, ['python3', '-c', PORT_ZERO_FLOOD, ON_DANTE, dp.lab.description.internet.ip, '40'], { reject: false });
    // New flows (a new client port each) while the datagrams come, 50 ms apart for 2 s.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const echoes: string[] = [];
    for (let i = 0; i < 8; i++) {
      echoes.push(await udpEcho(ON_DANTE));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    assert.equal((await flood).exitCode, 0, 'the raw sender ran');
    assert.deepEqual(echoes, Array(8).fill('reply'), `new flows lost their answers beside the port-0 datagrams\n${logTails()}`);
    await dp.waitFor('the port-0 datagrams to be counted', async () => (await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'invalid_port' })) >= before + 40, 5_000);
  });

  it('dnsMode proxy: `whoami.pgw.test TXT @203.0.113.53` over UDP answers the proxy’s exit address, from the resolver’s address; no DNS packet on eth0 outside the proxy relay', async () => {
    const capture = await dp.captureWan();
    const answer = await whoami(ON_DANTE);
    const dig = await digWhoami(ON_DANTE);
    const wan = await capture.stop();
    const { ip, port } = dp.lab.description.dns;
    assert.deepEqual(answer, { from: `${ip}:${port}`, txt: dp.lab.proxies[0]!.ip });
    assert.equal(dig, `"${dp.lab.proxies[0]!.ip}"`, 'dig TXT whoami.pgw.test answers the proxy’s exit address');
    assert.deepEqual(wan.fromClients, []);
    assert.deepEqual(notWithProxies(wan), []);
    assert.deepEqual(wan.all.filter((l) => l.includes(`${ip}.`) || /\.53: /.test(l)), [], 'no packet to or from the DNS server, none to port 53');
  });

  it('through an HTTP proxy the client’s UDP is dropped, counted (proxy_without_udp) and reported; its UDP DNS is answered over TCP through tinyproxy with the proxy’s exit address; on eth0 no UDP and no DNS', async () => {
    const before = await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'proxy_without_udp' });
    const answeredBefore = await forwarderMetric('pgw_forwarder_udp_dns_over_tcp_total', { outcome: 'answered' });
    const tinyproxy = dp.lab.proxies[1]!.ip;
    const { ip, port } = dp.lab.description.dns;
    const capture = await dp.captureWan();
    const echo = await udpEcho(ON_HTTP, 500);
    const viaDig = await dig(ON_HTTP, ip);
    const answer = await whoami(ON_HTTP);
    const wan = await capture.stop();
    assert.equal(echo, 'none');
    assert.equal(viaDig, `"${tinyproxy}"`, `dig TXT whoami.pgw.test @${ip} from the HTTP proxy’s client answers tinyproxy’s exit address (load ${loadavg()})\n${logTails()}`);
    assert.deepEqual(answer, { from: `${ip}:${port}`, txt: tinyproxy }, 'the answer comes from the resolver’s address');
    assert.deepEqual(wan.fromClients, []);
    assert.deepEqual(notWithProxies(wan), []);
    assert.ok(!wan.all.some((l) => l.includes('UDP')), `no UDP on eth0 for the HTTP client:\n${wan.all.join('\n')}`);
    assert.deepEqual(dnsLines(wan), [], 'no DNS packet on eth0 outside the proxy connection');
    assert.ok(wan.all.some((l) => l.includes(`> ${tinyproxy}.3128:`)), `the DNS went to tinyproxy:\n${wan.all.join('\n')}`);
    assert.ok((await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'proxy_without_udp' })) >= before + 1);
    assert.equal(await forwarderMetric('pgw_forwarder_udp_dns_over_tcp_total', { outcome: 'answered' }), answeredBefore + 2);
    const redis = connectRedis(dp.lab.redis.adminUrl);
    try {
      await dp.waitFor('the status record to name the HTTP client’s mapping', async () => {
        const status = JSON.parse((await redis.get(forwarderStatusKey(DEFAULT_NODE))) ?? '{}') as { udp?: { dropped: Record<string, { reason: string }> } };
        return status.udp?.dropped[String(httpMapping)]?.reason === 'proxy_without_udp';
      }, 8_000);
    } finally {
      redis.disconnect();
    }
  });

  it('a SOCKS5 proxy that refuses UDP ASSOCIATE: the client’s UDP is dropped and reported (associate_failed: command not supported), asked once per 30 s; its DNS is answered over TCP through that proxy; nothing else on eth0', async () => {
    const before = await forwarderMetric('pgw_forwarder_udp_associations_total', { outcome: 'failed' });
    const capture = await dp.captureWan();
    const results = [await udpEcho(ON_NO_UDP, 500), (await whoami(ON_NO_UDP)).txt, await udpEcho(ON_NO_UDP, 500)];
    const wan = await capture.stop();
    assert.equal(results[0], 'none');
    assert.equal(results[2], 'none');
    // The npm server's connection to the resolver leaves from an address of the lab's WAN: never a client's.
    assert.match(String(results[1]), /^(198\.51\.100|203\.0\.113)\.\d+$/, `the DNS is answered through the proxy\n${logTails()}`);
    assert.deepEqual(wan.fromClients, []);
    assert.deepEqual(notWithProxies(wan), []);
    assert.ok(!wan.all.some((l) => l.includes('UDP')), `no UDP on eth0:\n${wan.all.join('\n')}`);
    assert.deepEqual(dnsLines(wan), [], 'no DNS packet on eth0 outside the proxy connection');
    assert.equal(await forwarderMetric('pgw_forwarder_udp_associations_total', { outcome: 'failed' }), before + 1, 'the refusal is remembered for the proxy: one ASSOCIATE for both echo flows, none for the DNS');
    assert.ok((await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'associate_failed' })) >= 2);
    const redis = connectRedis(dp.lab.redis.adminUrl);
    try {
      await dp.waitFor('the status record to name the client’s mapping', async () => {
        const status = JSON.parse((await redis.get(forwarderStatusKey(DEFAULT_NODE))) ?? '{}') as { udp?: { dropped: Record<string, { reason: string; detail: string }> } };
        const dropped = status.udp?.dropped[String(noUdpMapping)];
        return dropped?.reason === 'associate_failed' && /command not supported/.test(dropped.detail);
      }, 8_000);
    } finally {
      redis.disconnect();
    }
  });

  it('a SOCKS5 proxy that hangs up on UDP ASSOCIATE: asked once, remembered for the proxy; the next flows are dropped without a connection to it', async () => {
    const failedBefore = await forwarderMetric('pgw_forwarder_udp_associations_total', { outcome: 'failed' });
    const droppedBefore = await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'associate_failed' });
    // Six flows (a new client port each): each opened a control connection, greeting and all, when
    // only a refusal or a protocol error was remembered.
    for (let i = 0; i < 6; i++) assert.equal(await udpEcho(ON_UDP_CLOSES, 300), 'none');
    await dp.waitFor('the six drops to be counted', async () => (await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'associate_failed' })) >= droppedBefore + 6, 5_000);
    assert.equal(await forwarderMetric('pgw_forwarder_udp_associations_total', { outcome: 'failed' }), failedBefore + 1, 'one association asked of the proxy');
  });

  it('strict OUTPUT lets the forwarder send UDP to proxies only: a relay the proxy names elsewhere is refused and remembered (relay_elsewhere), and the client\'s DNS is answered over TCP through that proxy', async () => {
    const before = await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'relay_elsewhere' });
    const results = [await udpEcho(ON_RELAY_ELSEWHERE, 500), (await whoami(ON_RELAY_ELSEWHERE)).txt];
    assert.equal(results[0], 'none');
    // Sent to 198.51.100.199 before, OUTPUT dropped each datagram (EPERM, which dgram does not report): the DNS got no answer.
    assert.match(String(results[1]), /^(198\.51\.100|203\.0\.113)\.\d+$/, `the DNS is answered through the proxy over TCP\n${logTails()}`);
    assert.ok((await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'relay_elsewhere' })) >= before + 1);
  });

  it('a SOCKS5 proxy naming a private UDP relay (a server behind NAT): refused by the policy and remembered for the proxy, not asked again per flow; its DNS is answered over TCP through it', async () => {
    const started = await forwarderMetric('pgw_forwarder_udp_associations_total', { outcome: 'started' });
    const droppedBefore = await forwarderMetric('pgw_forwarder_udp_dropped_total', {});
    // Each from a new client port: a new flow. Before, every flow (every DNS query from a
    // resolver's random port too) cost a TCP connection and an ASSOCIATE, and DNS was dropped.
    const results = [await udpEcho(ON_PRIVATE_RELAY, 500), await udpEcho(ON_PRIVATE_RELAY, 500), (await whoami(ON_PRIVATE_RELAY)).txt];
    assert.deepEqual(results.slice(0, 2), ['none', 'none'], 'no datagram reaches the relay the proxy named');
    assert.equal(results[2], PRIVATE_RELAY_PROXY, `the DNS is answered over TCP through the proxy\n${logTails()}`);
    assert.equal(await forwarderMetric('pgw_forwarder_udp_associations_total', { outcome: 'started' }), started + 1, 'one ASSOCIATE for both echo flows, none for the DNS');
    assert.ok((await forwarderMetric('pgw_forwarder_udp_dropped_total', {})) >= droppedBefore + 2, 'both echo datagrams dropped and counted');
  });

  it('strict OUTPUT off, a mapping allowed private destinations: its flow to the private relay the proxy named ends when the mapping alone is tightened; nothing more is sent there', async () => {
    /** The relay socks5-udp-private-relay names (lab/odd-proxy-server.ts): nothing listens there. */
    const relayLines = (wan: WanAnalysis) => wan.all.filter((l) => l.includes(' > 10.9.9.9.9999'));
    const setPrivate = async (value: 'allow' | null) => {
      await dp.tdb.db.updateTable('mappings').set({ privateDestinations: value }).where('id', '=', privateRelayMapping).execute();
      await dp.gateway.publish({ type: 'mapping.changed', mappingId: privateRelayMapping, action: 'updated' });
    };
    // One client port throughout: one flow, which the forwarder keeps while it is active.
    const CLIENT_PORT = 41_999;
    // A route there through the WAN router (the namespace's own): the relay is reachable, as one behind NAT would be from its LAN.
    await dp.lab.exec(dp.gw, ['ip', 'route', 'add', '10.9.9.9/32', 'via', dp.lab.description.wan.routerIp]);
    await dp.tdb.db.updateTable('settings').set({ strictOutput: false }).where('id', '=', 1).execute();
    await dp.gateway.publish({ type: 'config.changed' });
    await setPrivate('allow');
    try {
      // The private relay is a destination this mapping may reach now: the association opens, the datagrams go there.
      let allowed: string[] = [];
      for (let i = 0; i < 20 && allowed.length === 0; i++) {
        const capture = await dp.captureWan();
        await whoami(ON_PRIVATE_RELAY, undefined, CLIENT_PORT);
        allowed = relayLines(await capture.stop());
      }
      assert.ok(allowed.length > 0, `the allowed mapping's datagrams reach the private relay\n${logTails()}`);
      // Tightened for this mapping only (the global setting unchanged): the flow's relay is judged again.
      await setPrivate(null);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const capture = await dp.captureWan();
      await whoami(ON_PRIVATE_RELAY, undefined, CLIENT_PORT);
      await whoami(ON_PRIVATE_RELAY, undefined, CLIENT_PORT);
      assert.deepEqual(relayLines(await capture.stop()), [], 'sent on to the private relay after the mapping was tightened');
    } finally {
      await dp.lab.exec(dp.gw, ['ip', 'route', 'del', '10.9.9.9/32'], { reject: false });
      await setPrivate(null);
      await dp.tdb.db.updateTable('settings').set({ strictOutput: true }).where('id', '=', 1).execute();
      await dp.gateway.publish({ type: 'config.changed' });
    }
  });

  it('dnsUpstream 203.0.113.53: DNS to 203.0.113.99 (no resolver there) is answered by 203.0.113.53 through the client’s proxy (tinyproxy over TCP, UDP and TCP/53; dante by UDP ASSOCIATE), from the address asked; nothing else on eth0', async () => {
    const { ip, port } = dp.lab.description.dns;
    const [dante, tinyproxy] = [dp.lab.proxies[0]!.ip, dp.lab.proxies[1]!.ip];
    assert.doesNotMatch(await dig(ON_HTTP, NO_RESOLVER), /whoami|^"/, 'no answer from 203.0.113.99 without an upstream (control)');
    await setDnsUpstream(ip);
    try {
      const capture = await dp.captureWan();
      // The forwarder reloads on the notice (or its 1 s resync): a few tries at most.
      let viaHttp = await dig(ON_HTTP, NO_RESOLVER);
      for (let i = 0; i < 5 && viaHttp !== `"${tinyproxy}"`; i++) viaHttp = await dig(ON_HTTP, NO_RESOLVER);
      const viaHttpTcp = await dig(ON_HTTP, NO_RESOLVER, ['+tcp']);
      const viaDante = await dig(ON_DANTE, NO_RESOLVER);
      const raw = await whoami(ON_HTTP, NO_RESOLVER);
      const wan = await capture.stop();
      assert.equal(viaHttp, `"${tinyproxy}"`, `UDP DNS of the HTTP proxy’s client, over TCP to the upstream\n${logTails()}`);
      assert.equal(viaHttpTcp, `"${tinyproxy}"`, 'TCP/53 of the HTTP proxy’s client, to the upstream');
      assert.equal(viaDante, `"${dante}"`, 'UDP DNS through dante’s UDP ASSOCIATE, to the upstream');
      assert.deepEqual(raw, { from: `${NO_RESOLVER}:${port}`, txt: tinyproxy }, 'the answer comes from the address the client asked');
      assert.deepEqual(wan.fromClients, []);
      assert.deepEqual(notWithProxies(wan), []);
      assert.deepEqual(dnsLines(wan), [], 'no DNS packet on eth0 outside the proxy connections');
      // Asked at the gateway's own WAN address or at link-local: no answer comes from there, and
      // no transparent socket is bound there (one on the gateway's :53 kept its resolver off the port).
      const refusedBefore = await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'destination_gateway' });
      const linkLocalBefore = await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'destination_link_local' });
      const gatewayWan = dp.lab.description.gateway.wanIp;
      assert.doesNotMatch(await dig(ON_DANTE, gatewayWan), /^"/, 'no answer from the gateway\'s address');
      assert.doesNotMatch(await dig(ON_DANTE, '169.254.169.254'), /^"/, 'no answer from link-local');
      await dp.waitFor('both refusals counted by the forwarder', async () =>
        (await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'destination_gateway' })) >= refusedBefore + 1 &&
        (await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'destination_link_local' })) >= linkLocalBefore + 1, 5_000);
      const bound = (await dp.lab.exec(dp.gw, ['ss', '-Huan', 'sport', '= :53'], { reject: false })).stdout;
      assert.doesNotMatch(bound, new RegExp(`${gatewayWan.replace(/\./g, '\\.')}:53|169\\.254\\.169\\.254:53`), `no socket on :53 of those addresses:\n${bound}`);
    } finally {
      await setDnsUpstream(null);
    }
  });

  it('a UDP flow ends when its proxy\'s endpoint and credentials change: the same client port\'s next datagram leaves through the new endpoint', async () => {
    const sourcePort = 40053;
    const [dante, danteAuth] = [dp.lab.proxies[0]!, dp.lab.proxies[2]!];
    assert.equal((await whoami(ON_DANTE, undefined, sourcePort)).txt, dante.ip, 'the flow associated through dante');
    // Re-pointed and found up in one commit, as when the forwarder's load comes after the health
    // service's first probe of the new endpoint: the route is never blocked in between.
    const repoint = (to: ProxyHandle, username: string | null, password: string | null) =>
      dp.tdb.db.transaction().execute(async (trx) => {
        await trx.updateTable('proxies').set({ host: to.ip, port: to.port, username, passwordEnc: password === null ? null : encryptSecret(password, dp.gateway.secretKey) }).where('id', '=', danteProxy).execute();
        await trx.updateTable('proxies').set({ status: 'up' }).where('id', '=', danteProxy).execute();
      });
    await repoint(danteAuth, danteAuth.username!, danteAuth.password!);
    try {
      await dp.gateway.publish({ type: 'proxy.changed', proxyId: danteProxy, action: 'updated' });
      let last: string | null | undefined;
      await dp.waitFor('the same flow\'s next query to leave through the new endpoint', async () => {
        last = (await whoami(ON_DANTE, undefined, sourcePort)).txt;
        return last === danteAuth.ip;
      }, 10_000).catch((error: Error) => assert.fail(`${error.message}: the query from that port still answered ${last}`));
    } finally {
      await repoint(dante, null, null);
      await dp.gateway.publish({ type: 'proxy.changed', proxyId: danteProxy, action: 'updated' });
    }
    await dp.waitFor('the client back on dante', async () => (await whoami(ON_DANTE)).txt === dante.ip, 10_000);
  });

  it('a UDP flow ends when the LAN prefix grows over its proxy: the same client port\'s next query gets nothing; answered again once the prefix is back', async () => {
    const sourcePort = 40054;
    const dante = dp.lab.proxies[0]!;
    assert.equal((await whoami(ON_DANTE, undefined, sourcePort)).txt, dante.ip, 'the flow associated through dante');
    const { lanCidr } = await dp.tdb.db.selectFrom('settings').select('lanCidr').where('id', '=', 1).executeTakeFirstOrThrow();
    const refusedBefore = await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'proxy_lan' });
    // Over the clients and the proxies' WAN (198.51.100.0/24), not the resolver (203.0.113.53): only the proxy is refused now.
    await dp.tdb.db.updateTable('settings').set({ lanCidr: '192.0.0.0/5' }).where('id', '=', 1).execute();
    try {
      await dp.gateway.publish({ type: 'config.changed' });
      let last: string | null | undefined;
      await dp.waitFor('the flow through a proxy now inside the LAN prefix to end', async () => {
        last = (await whoami(ON_DANTE, undefined, sourcePort)).txt;
        return last !== dante.ip;
      }, 10_000).catch((error: Error) => assert.fail(`${error.message}: the query from that port still answered ${last}`));
      assert.ok((await forwarderMetric('pgw_forwarder_udp_dropped_total', { reason: 'proxy_lan' })) > refusedBefore, 'counted as the refusal it is (proxy_lan), not as a failed association');
    } finally {
      await dp.tdb.db.updateTable('settings').set({ lanCidr }).where('id', '=', 1).execute();
      await dp.gateway.publish({ type: 'config.changed' });
    }
    await dp.waitFor('the client answered through dante again', async () => (await whoami(ON_DANTE, undefined, sourcePort)).txt === dante.ip, 10_000);
  });

  it('leaving TPROXY mode ends every UDP flow at once, not at the idle sweep (its reply sockets would carry answers, the proxy\'s own too, to a client whose UDP is dropped)', async () => {
    const dante = dp.lab.proxies[0]!;
    assert.equal((await whoami(ON_DANTE, undefined, 40055)).txt, dante.ip, 'a flow through dante');
    assert.ok((await forwarderMetric('pgw_forwarder_udp_flows', {})) >= 1, 'the flow is open');
    const setMode = async (mode: 'dnat' | 'tproxy') => {
      await dp.tdb.db.updateTable('settings').set({ interceptMode: mode }).where('id', '=', 1).execute();
      await dp.gateway.publish({ type: 'config.changed' });
    };
    await setMode('dnat');
    try {
      // Before, the flows stayed until 60 s without a datagram either way, for ever while answers came.
      await dp.waitFor('the forwarder to end its UDP flows', async () => (await forwarderMetric('pgw_forwarder_udp_flows', {})) === 0, 5_000);
    } finally {
      await setMode('tproxy');
    }
    await dp.waitFor('the client answered through dante again', async () => (await whoami(ON_DANTE)).txt === dante.ip, 20_000);
  });

  it('agent restarted: the forwarder keeps relaying on the transparent socket it holds, and a new flow gets its reply socket from the new agent', async () => {
    await dp.killAgent();
    await dp.startAgent();
    await dp.waitFor('the agent to apply the mappings again', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify(MAPPED));
    const capture = await dp.captureWan();
    let result = await udpEcho(ON_DANTE);
    // The new agent answers reply-socket requests once it holds a policy: a few tries at most.
    for (let i = 0; i < 5 && result !== 'reply'; i++) result = await udpEcho(ON_DANTE);
    const answer = await whoami(ON_DANTE);
    const wan = await capture.stop();
    assert.equal(result, 'reply', logTails());
    assert.equal(answer.txt, dp.lab.proxies[0]!.ip);
    assert.deepEqual(wan.fromClients, []);
    assert.deepEqual(notWithProxies(wan), []);
  });

  it('kill switch: dante killed -> the client’s UDP gets nothing and nothing leaves directly; its down status blocks the client in the kernel too', async () => {
    const capture = await dp.captureWan();
    await dp.lab.proxies[0]!.kill!();
    const afterKill = [await udpEcho(ON_DANTE, 500), (await whoami(ON_DANTE)).txt];
    await dp.setProxyStatus(danteProxy, 'down');
    await dp.waitFor('the client blocked', async () => JSON.stringify(await dp.setElements('lan_blocked')) === JSON.stringify([ON_DANTE]));
    const afterDown = await udpEcho(ON_DANTE, 500);
    const wan = await capture.stop();
    assert.deepEqual([...afterKill, afterDown], ['none', 'timeout', 'none']);
    assert.deepEqual(wan.fromClients, [], 'packets with a client address on eth0');
    assert.deepEqual(notWithProxies(wan), [], 'packets to other WAN hosts on eth0');
  });
});

/** The last lines of the agent's and forwarder's logs, for a failure message. */
function logTails(): string {
  return ['agent', 'forwarder'].map((service) => {
    const file = `${dp.gateway.dir}/pgw-${service}.log`;
    try {
      return `--- ${file}\n${readFileSync(file, 'utf8').split('\n').slice(-12).join('\n')}`;
    } catch {
      return `--- ${file}: none`;
    }
  }).join('\n');
}
