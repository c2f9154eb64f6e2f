// Leak tests of the flow spec (docs/SECURITY.md): real nftables, the real agent and guard in a lab.
// Every probe is also run with enforcement off (positive control) so a capture that sees nothing
// cannot make a test pass.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDataplane, type Dataplane } from './dataplane-harness.js';

const EFFECTIVE = '192.168.2.10';
const BLOCKED = '192.168.2.11'; // proxy down
const UNMAPPED = '192.168.2.12';
const DISABLED = '192.168.2.13'; // mapping disabled
const PORTS = { [EFFECTIVE]: 20010, [BLOCKED]: 20011, [DISABLED]: 20013 } as const;
const GATEWAY_SERVICE_PORT = 2222;
/** A loopback-only service on the gateway (as the services' metrics endpoints are). */
const LOOPBACK_SERVICE_PORT = 9199;

let dp: Dataplane;
let internet: string;
let httpPort: number;

/** Routes the LAN namespace's 127.0.0.0/8 to the gateway, so a client can send what an attacker would. */
async function routeLoopbackToGateway(): Promise<void> {
  for (const argv of [
    ['sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1'],
    ['sysctl', '-q', '-w', 'net.ipv4.conf.gw0.route_localnet=1'],
    ['ip', 'route', 'add', '127.0.0.0/8', 'via', '192.168.2.1', 'dev', 'gw0', 'table', '100'],
    ['ip', 'rule', 'add', 'pref', '10', 'to', '127.0.0.0/8', 'lookup', '100'],
    ['ip', 'rule', 'del', 'pref', '0', 'lookup', 'local'],
    ['ip', 'rule', 'add', 'pref', '100', 'lookup', 'local'],
  ]) {
    await dp.lab.exec(dp.lab.ns.lan, argv);
  }
}

/** Runs `probe` with tcpdump on eth0 and returns what crossed it. */
async function onWan<T>(probe: () => Promise<T>): Promise<{ result: T; wan: Awaited<ReturnType<Awaited<ReturnType<Dataplane['captureWan']>>['stop']>> }> {
  const capture = await dp.captureWan();
  const result = await probe();
  await new Promise((resolve) => setTimeout(resolve, 300)); // late retransmissions
  return { result, wan: await capture.stop() };
}

function assertNoLeak(wan: { fromClients: string[]; toOtherHosts: string[] }): void {
  assert.deepEqual(wan.fromClients, [], 'packets with a client address on eth0');
  assert.deepEqual(wan.toOtherHosts, [], 'packets to WAN hosts other than the proxy endpoints on eth0');
}

/** One ICMP echo request from `src` (no ping binary on the machine): exit 0 when a reply came. */
const ICMP_ECHO = `
import socket, sys, time
src, dst = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.bind((src, 0)); s.settimeout(1.0)
def checksum(b):
    t = sum(int.from_bytes(b[i:i+2], 'big') for i in range(0, len(b), 2))
    t = (t >> 16) + (t & 0xffff); t += t >> 16
    return (~t) & 0xffff
body = b'\\x00' * 8 + b'pgw-leak-probe'
packet = bytearray(body); packet[0] = 8; packet[4:6] = (0x4242).to_bytes(2, 'big')
packet[2:4] = checksum(bytes(packet)).to_bytes(2, 'big')
s.sendto(bytes(packet), (dst, 0))
try:
    while True:
        data, addr = s.recvfrom(2048)
        if addr[0] == dst and data[20] == 0: sys.exit(0)
except socket.timeout:
    sys.exit(1)
`;

const probes = {
  tcpToInternet: (src: string) => dp.prober.tcp(src, internet, httpPort),
  udpDns: async (src: string) => [await dp.prober.udp(src, internet, 53), await dp.prober.udp(src, '192.168.2.1', 53)],
  ping: (src: string) => dp.lab.exec(dp.lab.ns.lan, ['/usr/bin/python3', '-c', ICMP_ECHO, src, internet], { reject: false }),
  ipv6ToGateway: () => dp.prober.tcp(dp.lab.description.lan.clientIp6, dp.lab.description.gateway.lanIp6, GATEWAY_SERVICE_PORT),
  loopbackService: (src: string) => dp.prober.tcp(src, '127.0.0.1', LOOPBACK_SERVICE_PORT),
  gatewayService: (src: string) => dp.prober.tcp(src, '192.168.2.1', GATEWAY_SERVICE_PORT),
};

describe('dataplane leak tests (docs/SECURITY.md flows)', { timeout: 240_000 }, () => {
  before(async () => {
    dp = await createDataplane({ clients: 4, proxies: ['socks5'] });
    internet = dp.lab.description.internet.ip;
    httpPort = dp.lab.description.internet.httpPort;
    await dp.loadGuard();
    const up = await dp.addProxy(0, 'up');
    const down = await dp.addProxy(0, 'down');
    await dp.addMapping(EFFECTIVE, up, PORTS[EFFECTIVE]);
    await dp.addMapping(BLOCKED, down, PORTS[BLOCKED]);
    await dp.addMapping(DISABLED, up, PORTS[DISABLED], false);
    // Every mapped port has a listening socket, the agent's own (it holds the forwarder's
    // listeners): a blocked client wrongly DNAT-ed would connect, so the test can fail.
    await dp.startPortListeners([LOOPBACK_SERVICE_PORT]);
    await dp.startGatewayService(GATEWAY_SERVICE_PORT);
    await routeLoopbackToGateway();
    await dp.startAgent();
    await dp.waitFor('the agent to apply the mappings', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]));
    await dp.waitFor('route_localnet on ens19', async () => (await dp.lab.exec(dp.gw, ['cat', '/proc/sys/net/ipv4/conf/ens19/route_localnet'])).stdout.trim() === '1');
  });

  after(async () => {
    await dp?.destroy();
  });

  it('flow 1: an effective client’s TCP to a WAN host lands on its own forwarder port; nothing crosses eth0', async () => {
    const { result, wan } = await onWan(() => probes.tcpToInternet(EFFECTIVE));
    assert.equal(result.result, 'connected');
    assertNoLeak(wan);
    const conntrack = await dp.lab.exec(dp.gw, ['conntrack', '-L', '-s', EFFECTIVE, '-p', 'tcp'], { reject: false });
    assert.match(conntrack.stdout, new RegExp(`dport=${httpPort} src=127\\.0\\.0\\.1 dst=${EFFECTIVE} sport=${PORTS[EFFECTIVE]} `), 'DNAT-ed to 127.0.0.1:<its port>');
  });

  it('flows 4, 5, 6: blocked (proxy down, mapping disabled) and unmapped clients are refused at once; nothing crosses eth0', async () => {
    const { result, wan } = await onWan(async () => Promise.all([BLOCKED, DISABLED, UNMAPPED].map((src) => probes.tcpToInternet(src))));
    for (const r of result) {
      assert.equal(r.result, 'refused');
      assert.ok(r.ms < 200, `refused in ${r.ms} ms`);
    }
    assertNoLeak(wan);
  });

  it('flow 7: UDP/53 (to the WAN and to the gateway) and ICMP from every client get nothing; nothing crosses eth0', async () => {
    const { result, wan } = await onWan(async () => {
      const out = [];
      for (const src of dp.lab.clients) out.push({ dns: await probes.udpDns(src), ping: await probes.ping(src) });
      return out;
    });
    for (const r of result) {
      assert.deepEqual(r.dns.map((d) => d.result), ['none', 'none']);
      assert.equal(r.ping.exitCode, 1, r.ping.stderr);
    }
    assertNoLeak(wan);
  });

  it('flow 10: LAN IPv6 gets nothing (not even the gateway); nothing crosses eth0', async () => {
    const { result, wan } = await onWan(() => probes.ipv6ToGateway());
    assert.equal(result.result, 'timeout');
    assertNoLeak(wan);
  });

  it('flow 8: a LAN packet addressed to 127.0.0.1 (route_localnet hole) reaches no loopback service', async () => {
    assert.equal((await dp.lab.exec(dp.gw, ['cat', '/proc/sys/net/ipv4/conf/ens19/route_localnet'])).stdout.trim(), '1');
    for (const src of [EFFECTIVE, UNMAPPED]) assert.equal((await probes.loopbackService(src)).result, 'timeout');
    // Another client's forwarder port is a loopback service too.
    assert.equal((await dp.prober.tcp(UNMAPPED, '127.0.0.1', PORTS[EFFECTIVE])).result, 'timeout');
  });

  it('flow 9: the LAN reaches no gateway service; an effective client only ever reaches its own port', async () => {
    assert.equal((await probes.gatewayService(UNMAPPED)).result, 'refused');
    assert.equal((await probes.gatewayService(BLOCKED)).result, 'refused');
    // The effective client's TCP to the gateway is DNAT-ed to its own forwarder port like any other.
    assert.equal((await probes.gatewayService(EFFECTIVE)).result, 'connected');
    const conntrack = await dp.lab.exec(dp.gw, ['conntrack', '-L', '-s', EFFECTIVE, '-p', 'tcp', '--orig-port-dst', String(GATEWAY_SERVICE_PORT)], { reject: false });
    assert.match(conntrack.stdout, new RegExp(`src=127\\.0\\.0\\.1 dst=${EFFECTIVE} sport=${PORTS[EFFECTIVE]}`));
  });

  it('flow 14: with the agent killed the rules stay in force and route_localnet goes off (the effective client gets nothing until it is back); nothing crosses eth0', async () => {
    await dp.killAgent();
    assert.equal((await dp.lab.exec(dp.gw, ['cat', '/proc/sys/net/ipv4/conf/ens19/route_localnet'])).stdout.trim(), '0');
    const { result, wan } = await onWan(async () => Promise.all(dp.lab.clients.map((src) => probes.tcpToInternet(src))));
    // DNAT-ed to 127.0.0.1 without route_localnet: a martian, dropped by the kernel.
    assert.deepEqual(result.map((r) => r.result), ['timeout', 'refused', 'refused', 'refused']);
    assertNoLeak(wan);
    await dp.startAgent();
  });

  it('flow 15: with inet pgw deleted and the agent stopped, the guard alone forwards nothing and keeps the loopback hole shut', async () => {
    await dp.killAgent();
    assert.equal((await dp.nft('delete', 'table', 'inet', 'pgw')).exitCode, 0);
    const { result, wan } = await onWan(async () => ({
      tcp: await Promise.all(dp.lab.clients.map((src) => probes.tcpToInternet(src))),
      dns: await probes.udpDns(UNMAPPED),
      ping: await probes.ping(UNMAPPED),
      loopback: await probes.loopbackService(UNMAPPED),
    }));
    for (const r of result.tcp) assert.notEqual(r.result, 'connected');
    assert.equal(result.loopback.result, 'timeout');
    assertNoLeak(wan);
    await dp.startAgent();
    await dp.waitFor('inet pgw restored from the state file', async () => (await dp.setElements('lan_mapped')) !== null);
  });

  it('flow 15: another tool’s `nft flush ruleset` — the agent restores inet pgw within about a second', async () => {
    await dp.waitFor('the agent to be in steady state', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]));
    const started = Date.now();
    assert.equal((await dp.nft('flush', 'ruleset')).exitCode, 0);
    await dp.waitFor('inet pgw re-applied', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]), 5_000);
    const ms = Date.now() - started;
    console.log(`# flush ruleset -> inet pgw re-applied in ${ms} ms`);
    assert.ok(ms < 2_000, `re-applied in ${ms} ms`);
    await dp.loadGuard(); // static: a flush removes it and only its loader brings it back
    const { result, wan } = await onWan(() => probes.tcpToInternet(UNMAPPED));
    assert.equal(result.result, 'refused');
    assertNoLeak(wan);
  });

  it('positive control: with inet pgw, the guard and the kernel backstop absent, the same probes are seen on eth0 and reach their targets', async () => {
    await dp.killAgent();
    await dp.nft('delete', 'table', 'inet', 'pgw');
    await dp.nft('delete', 'table', 'inet', 'pgw_guard');
    // The kernel layer (docs/SECURITY.md, "Layers") switched back to what a plain router has.
    for (const key of ['net.ipv4.conf.ens19.forwarding=1', 'net.ipv6.conf.ens19.disable_ipv6=0', 'net.ipv4.conf.ens19.route_localnet=1']) await dp.lab.exec(dp.gw, ['sysctl', '-q', '-w', key]);
    await dp.lab.exec(dp.gw, ['ip', 'addr', 'replace', `${dp.lab.description.gateway.lanIp6}/64`, 'dev', 'ens19', 'nodad']);
    try {
      const { result, wan } = await onWan(async () => ({
        tcp: await Promise.all(dp.lab.clients.map((src) => probes.tcpToInternet(src))),
        dns: await probes.udpDns(UNMAPPED),
        ping: await probes.ping(UNMAPPED),
        ipv6: await probes.ipv6ToGateway(),
        loopback: await probes.loopbackService(UNMAPPED),
        gatewayService: await probes.gatewayService(UNMAPPED),
      }));
      assert.deepEqual(result.tcp.map((r) => r.result), ['connected', 'connected', 'connected', 'connected'], 'flows 1, 4-6: clients reach the WAN host directly');
      for (const src of dp.lab.clients) assert.ok(wan.fromClients.some((l) => l.includes(`${src}.`) && l.includes(`${internet}.${httpPort}`)), `flow 4: ${src} seen on eth0`);
      assert.ok(wan.fromClients.some((l) => l.includes(`${UNMAPPED}.`) && l.includes(`${internet}.53:`)), 'flow 7: UDP/53 seen on eth0');
      assert.ok(wan.fromClients.some((l) => l.includes(`${UNMAPPED} > ${internet}: ICMP echo request`)), `flow 7: ICMP seen on eth0:\n${wan.all.filter((l) => !l.includes('Flags')).join('\n')}\n${JSON.stringify(result.ping)}`);
      assert.equal(result.ping.exitCode, 0);
      assert.equal(result.ipv6.result, 'connected', 'flow 10: IPv6 reaches the gateway');
      assert.equal(result.loopback.result, 'connected', 'flow 8: the loopback hole is open without the rules');
      assert.equal(result.gatewayService.result, 'connected', 'flow 9: gateway services are reachable without the rules');
      assert.ok(wan.toOtherHosts.length > 0);
    } finally {
      await dp.loadGuard();
      await dp.startAgent();
    }
  });
});
