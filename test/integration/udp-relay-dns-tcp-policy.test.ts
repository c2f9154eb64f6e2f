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
import type { Port } from '@pgw/domain';
import { transparentUdpSocket } from '@pgw/original-dst';
import { AGENT_SOCKET_MARK } from '../../services/agent/src/listeners/agent-socket-mark.js';
import { DnsUpstreamSetting } from '../../services/forwarder/src/dns/dns-upstream-setting.js';
import { dnsQuery } from '../../services/forwarder/src/dns/dns-test-messages.js';
import { udpRelayUnderTest } from '../support/udp-relay-under-test.js';

const QUERY = dnsQuery(0x1234);

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
    const dns = new DnsUpstreamSetting();
    dns.configure({ dnsMode: 'proxy', dnsUpstream: null });
    const t = udpRelayUnderTest({
      proxyPort: (silent.address() as net.AddressInfo).port,
      protocol: 'http',
      dns,
      replySocket: async (client, destination) => ({
        fd: transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: client.ip, port: client.port } }),
      }),
    });
    cleanups.push(t.stop);
    const relay = t.relay;
    relay.apply(new Map([[1, t.route({ privateDestinations: 'allow' })]]));
    t.send({ ip: '10.0.0.53', port: 53 }, QUERY);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(relay.dnsOverTcpQueries, 1, 'the query is in flight through the silent tunnel');
    relay.apply(new Map([[1, t.route({ privateDestinations: 'allow', listenPort: 20002 as Port })]]));
    relay.enforceProxies();
    assert.equal(relay.dnsOverTcpQueries, 1, 'a change that refuses nothing ends nothing');
    relay.apply(new Map([[1, t.route({ listenPort: 20002 as Port })]]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(relay.dnsOverTcpQueries, 0, 'the query to a private resolver went on under the global deny');
    assert.equal(relay.stats.dropped.get('destination_private'), 1, JSON.stringify(Object.fromEntries(relay.stats.dropped)));
  });
});
