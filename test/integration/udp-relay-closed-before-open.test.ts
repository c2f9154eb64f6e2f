// A flow the relay itself ends before its UDP ASSOCIATE was answered (the client blocked, its
// mapping moved or removed, TPROXY mode left, a stop) did not fail at the proxy: it was counted as
// a failed association, logged as one and reported as the client's problem ("associate_failed:
// closed before it opened") in place of the block that ended it (review). The real UdpRelay with a
// scripted SOCKS5 server on loopback that answers the ASSOCIATE after 2 s.
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

describe('UDP relay: a flow it ends before the ASSOCIATE is answered', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  it('is not a failed association: not counted, and the client\'s problem is the block that ended it', async () => {
    const proxy = await startScriptedSocks5('127.0.0.1', Buffer.from([1, 127, 0, 0, 1]), () => 9, 2_000);
    cleanups.push(proxy.close);
    const guard = new DestinationGuard(['127.0.0.0/8'], () => []);
    guard.configure({ lanCidr: '192.168.2.0/24' as Ipv4Cidr, privateDestinations: 'deny' });
    const sockets = { replySocket: async () => ({ reason: 'no agent in this test' }) } as unknown as UdpAgentSockets;
    const relay = new UdpRelay(sockets, { connectTimeoutMs: 5_000, limits: DEFAULT_UDP_LIMITS, destinations: guard, dns: new DnsUpstreamSetting() }, createLogger('udp-relay-test', 'error'));
    cleanups.push(() => relay.stop());
    const route = (blocked: MappingRoute['blocked']): MappingRoute => ({
      mappingId: 1, clientIp: CLIENT, listenPort: 20001 as Port, proxyId: 7,
      proxy: { protocol: 'socks5', host: '127.0.0.1', port: proxy.port } as MappingRoute['proxy'],
      handshake: 'sequential', blocked, privateDestinations: null,
    });
    const send = () => (relay as unknown as { relay(client: object, destination: object, data: Buffer): void }).relay({ ip: CLIENT, port: 5555 }, { ip: '203.0.113.7', port: 9 }, Buffer.from('x'));
    relay.apply(new Map([[1, route(null)]]));
    send();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(relay.flowCount, 1, 'the flow waits for its ASSOCIATE');
    relay.apply(new Map([[1, route('proxy_down')]]));
    send();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(relay.flowCount, 0, 'the blocked client\'s flow ended');
    assert.equal(relay.stats.associationsFailed, 0, 'counted as a failed association');
    assert.equal(relay.clientProblems().get(1)?.reason, 'blocked', JSON.stringify(relay.clientProblems().get(1)));
  });
});
