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
import { DnsUpstreamSetting } from '../../services/forwarder/src/dns/dns-upstream-setting.js';
import { dnsQuery } from '../../services/forwarder/src/dns/dns-test-messages.js';
import { startScriptedSocks5 } from '../support/scripted-socks5.js';
import { udpRelayUnderTest } from '../support/udp-relay-under-test.js';

const QUERY = dnsQuery(0x1234);

describe('UDP relay: a redirected DNS query\'s asked resolver is judged as at its first datagram when the policy changes', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  it('a private resolver the client asked keeps its reply socket through enforceProxies; a gateway address is still forgotten (control)', async () => {
    const proxy = await startScriptedSocks5('127.0.0.1', Buffer.from([1, 127, 0, 0, 1]), () => 9);
    cleanups.push(proxy.close);
    let addresses = ['192.168.2.1'];
    const dns = new DnsUpstreamSetting();
    dns.configure({ dnsMode: 'proxy', dnsUpstream: '203.0.113.53' });
    const asked: string[] = [];
    const t = udpRelayUnderTest({ proxyPort: proxy.port, dns, addresses: () => addresses, replySocket: async (_c, d) => (asked.push(`${d.ip}:${d.port}`), { reason: 'no agent in this test' }) });
    cleanups.push(t.stop);
    t.relay.apply(new Map([[1, t.route()]]));
    const send = (ip: string) => t.send({ ip, port: 53 }, QUERY);
    send('10.0.0.53');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(asked, ['10.0.0.53:53'], 'the first query asks for a reply socket');
    t.relay.enforceProxies();
    send('10.0.0.53');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(asked, ['10.0.0.53:53'], 'the private resolver was forgotten by the policy check and asked for again');
    // Control: an address the gateway takes since is refused as the asked one, and forgotten.
    send('203.0.113.60');
    await new Promise((resolve) => setTimeout(resolve, 200));
    addresses = ['192.168.2.1', '203.0.113.60'];
    t.guard.refreshAddresses();
    t.relay.enforceProxies();
    send('203.0.113.60');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(asked, ['10.0.0.53:53', '203.0.113.60:53'], 'the gateway\'s own address is dropped before any reply socket, not asked again');
  });
});
