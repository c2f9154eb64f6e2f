/**
 * The leak battery's probes (docs/SECURITY.md flows), shared by the lab's dataplane tests and the
 * deployment tests (Compose, systemd): what a LAN client tries, run from the lab's LAN namespace,
 * and what crossed the gateway's eth0 meanwhile (tcpdump, lab/capture.ts).
 */
import assert from 'node:assert/strict';
import type { Dataplane, ProbeResult, WanAnalysis } from './dataplane-harness.js';
import { synToReset, type WireRefusal } from '../support/tcpdump-text.js';

/** What the probes need of a gateway under test: the lab, a prober in its LAN, a capture of eth0. */
export type LeakTarget = Pick<Dataplane, 'lab' | 'prober' | 'captureWan'>;

/** A service on every gateway address (as an operator's SSH would be), probed by flow 9 and IPv6. */
export const GATEWAY_SERVICE_PORT = 2222;
/** A loopback-only service on the gateway (as the services' metrics endpoints are). */
export const LOOPBACK_SERVICE_PORT = 9199;

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

export function leakProbes(t: LeakTarget) {
  const internet = t.lab.description.internet.ip;
  const httpPort = t.lab.description.internet.httpPort;
  const gatewayLan = t.lab.description.gateway.lanIp;
  return {
    internet,
    httpPort,
    tcpToInternet: (src: string) => t.prober.tcp(src, internet, httpPort),
    /**
     * TCP from each client to the internet at once, with how the LAN wire saw each refused (tcpdump
     * in the LAN namespace): the gateway's answer on the kernel's clock, where the prober's own
     * clock also holds its wait for the CPU. The prober waits 3 s: a prober starved past its timeout
     * reports 'timeout' even when the RST came at once (Node runs due timers before I/O).
     */
    async tcpToInternetTimed(srcs: readonly string[]): Promise<TimedProbe[]> {
      const capture = await t.lab.capture({ ns: t.lab.ns.lan, iface: t.lab.description.lan.iface, filter: `tcp port ${httpPort}` });
      const results = await Promise.all(srcs.map((src) => t.prober.tcp(src, internet, httpPort, 3000))).finally(() => capture.stop());
      const lines = await capture.stop();
      return srcs.map((src, i) => ({ src, ...results[i]!, wire: synToReset(lines, src, `${internet}.${httpPort}`) }));
    },
    udpDns: async (src: string) => [await t.prober.udp(src, internet, 53), await t.prober.udp(src, gatewayLan, 53)],
    ping: (src: string) => t.lab.exec(t.lab.ns.lan, ['/usr/bin/python3', '-c', ICMP_ECHO, src, internet], { reject: false }),
    ipv6ToGateway: () => t.prober.tcp(t.lab.description.lan.clientIp6, t.lab.description.gateway.lanIp6, GATEWAY_SERVICE_PORT),
    loopbackService: (src: string) => t.prober.tcp(src, '127.0.0.1', LOOPBACK_SERVICE_PORT),
    gatewayService: (src: string) => t.prober.tcp(src, gatewayLan, GATEWAY_SERVICE_PORT),
    /** Runs `probe` with tcpdump on eth0 and returns what crossed it. */
    async onWan<T>(probe: () => Promise<T>): Promise<{ result: T; wan: WanAnalysis }> {
      const capture = await t.captureWan();
      const result = await probe();
      await new Promise((resolve) => setTimeout(resolve, 300)); // late retransmissions
      return { result, wan: await capture.stop() };
    },
    /** Routes the LAN namespace's 127.0.0.0/8 to the gateway, so a client can send what an attacker would. */
    async routeLoopbackToGateway(): Promise<void> {
      for (const argv of [
        ['sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1'],
        ['sysctl', '-q', '-w', 'net.ipv4.conf.gw0.route_localnet=1'],
        ['ip', 'route', 'add', '127.0.0.0/8', 'via', gatewayLan, 'dev', 'gw0', 'table', '100'],
        ['ip', 'rule', 'add', 'pref', '10', 'to', '127.0.0.0/8', 'lookup', '100'],
        ['ip', 'rule', 'del', 'pref', '0', 'lookup', 'local'],
        ['ip', 'rule', 'add', 'pref', '100', 'lookup', 'local'],
      ]) {
        await t.lab.exec(t.lab.ns.lan, argv);
      }
    },
  };
}

export type LeakProbes = ReturnType<typeof leakProbes>;

export interface TimedProbe {
  src: string;
  result: ProbeResult;
  /** By the prober's clock, from its connect() to the outcome. */
  ms: number;
  /** On the LAN wire, the SYN and the RST that refused it; null without such a pair. */
  wire: WireRefusal | null;
}

/** TCP's initial retransmission timeout (RFC 6298): a dropped SYN is sent again this long after. */
const FIRST_RETRANSMISSION_MS = 1000;

/**
 * Flows 4-6: every client refused by a RST that answered its first SYN, not dropped: the RST before
 * the client would have sent a second SYN. How soon within that bound is the kernel's softirq
 * scheduling on a loaded machine, not the gateway's rules: it is printed, not judged.
 *
 * Two witnesses, either enough. The prober's clock can only run late (a starved prober reports more
 * time than passed, never less), so a refusal it timed under the first retransmission answered the
 * first SYN. Past that (a prober starved for a second, stop 31's CI), the LAN wire decides: one SYN,
 * and its RST in time. The capture alone is not required: under load tcpdump missed pairs whose
 * refusal the prober had seen in 2 ms (a CI run of session 23).
 */
export function assertRefusedAtOnce(probes: readonly TimedProbe[]): void {
  console.log(`# refused at once: ${probes.map((p) => `${p.src} ${p.result}, SYN to RST ${p.wire?.ms.toFixed(2) ?? '-'} ms on the wire (prober ${p.ms} ms)`).join('; ')}`);
  for (const p of probes) {
    const seen = `${p.src}: ${p.result} after ${p.ms} ms, on the LAN wire ${JSON.stringify(p.wire)}`;
    assert.equal(p.result, 'refused', seen);
    if (p.ms < FIRST_RETRANSMISSION_MS) continue;
    assert.ok(p.wire !== null, `${seen}: the prober took a second or more and no RST answered its SYN on the wire`);
    assert.equal(p.wire.syns, 1, `${seen}: its first SYN was dropped`);
    assert.ok(p.wire.ms < FIRST_RETRANSMISSION_MS, `${seen}: the RST came after a dropped SYN would have been sent again`);
  }
}

export function assertNoLeak(wan: { fromClients: string[]; toOtherHosts: string[] }): void {
  assert.deepEqual(wan.fromClients, [], 'packets with a client address on eth0');
  assert.deepEqual(wan.toOtherHosts, [], 'packets to WAN hosts other than the proxy endpoints on eth0');
}
