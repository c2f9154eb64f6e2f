// With dnsUpstream set, a client's DNS to any resolver goes through its proxy to the upstream; the
// address the client asked only answers it (its reply socket), so it is judged as the gateway's
// own, loopback, link-local or the LAN would be, never by the mapping's private-ranges choice
// (udp-relay.ts relay()). Judged again on a policy change (enforceProxies: an address change, a
// settings change), that asked address was judged by the private-ranges choice: a client whose
// resolver is 10.0.0.53 under the global deny lost its reply socket at every change, and the
// answers in flight with it (review). The real UdpRelay with a scripted SOCKS5 server on loopback;
// a new reply socket asked for the same destination is the sign that it was forgotten.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Ipv4, Ipv4Cidr, Port } from '@pgw/domain';
import { createLogger } from '@pgw/log';
import { DnsUpstreamSetting } from '../../services/forwarder/src/dns/dns-upstream-setting.js';
import { DestinationGuard } from '../../services/forwarder/src/routes/destination-guard.js';
import type { MappingRoute } from '../../services/forwarder/src/routes/routes.js';
import type { UdpAgentSockets } from '../../services/forwarder/src/udp/udp-agent-sockets.js';
import { DEFAULT_UDP_LIMITS } from '../../services/forwarder/src/udp/udp-limits.js';
import { UdpRelay } from '../../services/forwarder/src/udp/udp-relay.js';
import { startScriptedSocks5 } from '../support/scripted-socks5.js';

const CLIENT = '192.168.2.10' as Ipv4;
/** A standard query (id 0x1234, one question: example. A). */
const QUERY = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, ...Buffer.from('example'), 0, 0, 1, 0, 1]);

describe('UDP relay: a redirected DNS query\'s asked resolver is judged as at its first datagram when the policy changes', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  it('a private resolver the client asked keeps its reply socket through enforceProxies; a gateway address is still forgotten (control)', async () => {
    const proxy = await startScriptedSocks5('127.0.0.1', Buffer.from([1, 127, 0, 0, 1]), () => 9);
    cleanups.push(proxy.close);
    let addresses = ['192.168.2.1'];
    const guard = new DestinationGuard(['127.0.0.0/8'], () => addresses);
    guard.configure({ lanCidr: '192.168.2.0/24' as Ipv4Cidr, privateDestinations: 'deny' });
    const dns = new DnsUpstreamSetting();
    dns.configure({ dnsMode: 'proxy', dnsUpstream: '203.0.113.53' });
    const asked: string[] = [];
    const sockets = { replySocket: async (_c: unknown, d: { ip: string; port: number }) => (asked.push(`${d.ip}:${d.port}`), { reason: 'no agent in this test' }) } as unknown as UdpAgentSockets;
    const relay = new UdpRelay(sockets, { connectTimeoutMs: 3_000, limits: DEFAULT_UDP_LIMITS, destinations: guard, dns }, createLogger('udp-relay-test', 'error'));
    cleanups.push(() => relay.stop());
    const route: MappingRoute = {
      mappingId: 1, clientIp: CLIENT, listenPort: 20001 as Port, proxyId: 7,
      proxy: { protocol: 'socks5', host: '127.0.0.1', port: proxy.port } as MappingRoute['proxy'],
      handshake: 'sequential', blocked: null, privateDestinations: null,
    };
    relay.apply(new Map([[1, route]]));
    const send = (ip: string) => (relay as unknown as { relay(client: object, destination: object, data: Buffer): void }).relay({ ip: CLIENT, port: 5555 }, { ip, port: 53 }, QUERY);
    send('10.0.0.53');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(asked, ['10.0.0.53:53'], 'the first query asks for a reply socket');
    relay.enforceProxies();
    send('10.0.0.53');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(asked, ['10.0.0.53:53'], 'the private resolver was forgotten by the policy check and asked for again');
    // Control: an address the gateway takes since is refused as the asked one, and forgotten.
    send('203.0.113.60');
    await new Promise((resolve) => setTimeout(resolve, 200));
    addresses = ['192.168.2.1', '203.0.113.60'];
    guard.refreshAddresses();
    relay.enforceProxies();
    send('203.0.113.60');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(asked, ['10.0.0.53:53', '203.0.113.60:53'], 'the gateway\'s own address is dropped before any reply socket, not asked again');
  });
});
