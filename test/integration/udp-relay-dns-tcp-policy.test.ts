// A client's DNS over TCP through its HTTP proxy (issue 15: the proxy carries no UDP) is a TCP
// tunnel like any relay's, judged when the query comes. When the policy tightens while it is in
// flight (the mapping's private-ranges choice cleared, the LAN prefix grown over the proxy, an
// address the gateway took), a TCP relay there is reset at once; the DNS tunnel was only ended at
// its answer or its timeout (5 s), the query still asked of a resolver the client may no longer
// reach (review). The real UdpRelay with an HTTP proxy on loopback that opens the tunnel and then
// stays silent; the reply socket is a real transparent one (as the agent makes it).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import type { Ipv4, Ipv4Cidr, Port } from '@pgw/domain';
import { createLogger } from '@pgw/log';
import { transparentUdpSocket } from '@pgw/original-dst';
import { AGENT_SOCKET_MARK } from '../../services/agent/src/listeners/agent-socket-mark.js';
import { DnsUpstreamSetting } from '../../services/forwarder/src/dns/dns-upstream-setting.js';
import { DestinationGuard } from '../../services/forwarder/src/routes/destination-guard.js';
import type { MappingRoute } from '../../services/forwarder/src/routes/routes.js';
import type { UdpAgentSockets } from '../../services/forwarder/src/udp/udp-agent-sockets.js';
import { DEFAULT_UDP_LIMITS } from '../../services/forwarder/src/udp/udp-limits.js';
import { UdpRelay } from '../../services/forwarder/src/udp/udp-relay.js';

const CLIENT = '192.168.2.10' as Ipv4;
const QUERY = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, ...Buffer.from('example'), 0, 0, 1, 0, 1]);

describe('UDP relay: DNS over TCP in flight when the policy tightens', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  it('a query to a private resolver ends when the mapping\'s allow is cleared (global deny); a change that refuses nothing leaves it (control)', async () => {
    const silent = net.createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.once('data', () => socket.write('HTTP/1.1 200 Connection established\r\n\r\n'));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => silent.close());
    const guard = new DestinationGuard(['127.0.0.0/8'], () => []);
    guard.configure({ lanCidr: '192.168.2.0/24' as Ipv4Cidr, privateDestinations: 'deny' });
    const dns = new DnsUpstreamSetting();
    dns.configure({ dnsMode: 'proxy', dnsUpstream: null });
    const sockets = {
      replySocket: async (client: { ip: string; port: number }, destination: { ip: string; port: number }) => ({
        fd: transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: client.ip, port: client.port } }),
      }),
    } as unknown as UdpAgentSockets;
    const relay = new UdpRelay(sockets, { connectTimeoutMs: 3_000, limits: DEFAULT_UDP_LIMITS, destinations: guard, dns }, createLogger('udp-relay-test', 'error'));
    cleanups.push(() => relay.stop());
    const route = (privateDestinations: 'allow' | null, listenPort = 20001): MappingRoute => ({
      mappingId: 1, clientIp: CLIENT, listenPort: listenPort as Port, proxyId: 7,
      proxy: { protocol: 'http', host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port } as MappingRoute['proxy'],
      handshake: 'sequential', blocked: null, privateDestinations,
    });
    relay.apply(new Map([[1, route('allow')]]));
    (relay as unknown as { relay(client: object, destination: object, data: Buffer): void }).relay({ ip: CLIENT, port: 5555 }, { ip: '10.0.0.53', port: 53 }, QUERY);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(relay.dnsOverTcpQueries, 1, 'the query is in flight through the silent tunnel');
    relay.apply(new Map([[1, route('allow', 20002)]]));
    relay.enforceProxies();
    assert.equal(relay.dnsOverTcpQueries, 1, 'a change that refuses nothing ends nothing');
    relay.apply(new Map([[1, route(null, 20002)]]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(relay.dnsOverTcpQueries, 0, 'the query to a private resolver went on under the global deny');
    assert.equal(relay.stats.dropped.get('destination_private'), 1, JSON.stringify(Object.fromEntries(relay.stats.dropped)));
  });
});
