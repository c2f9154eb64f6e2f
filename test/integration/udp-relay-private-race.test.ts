// A mapping's own choice for private destinations, cleared (back to the global "deny") while a
// flow's UDP ASSOCIATE is still unanswered, must judge the relay address the proxy then names. The
// relay check took the current route's choice with `??`, so a cleared choice (null: "the global
// setting") fell back to the "allow" the flow had opened with: a proxy that answers slowly (up to
// the connect timeout) got every datagram of the client aimed at a private host next to the
// gateway. The real UdpRelay with a scripted SOCKS5 server on loopback; the datagram enters where
// the agent's tproxy socket hands it over (its reader's callback, private: no socket of the agent here).
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
const PRIVATE_RELAY = Buffer.from([1, 10, 1, 2, 3]);

describe('UDP relay: the private-destinations choice in force when the proxy names its relay', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  /**
   * The client's problem once the proxy has named a private relay: `destination_private` when it
   * was refused; allowed, the association tries to reach 10.1.2.3 from its loopback control
   * connection's address, which the kernel refuses (`associate_failed`, EINVAL): it got through.
   */
  async function verdictAfter(atOpen: 'allow' | null, whenAnswered: 'allow' | null): Promise<string | undefined> {
    const proxy = await startScriptedSocks5('127.0.0.1', PRIVATE_RELAY, () => 9999, 300);
    cleanups.push(proxy.close);
    const guard = new DestinationGuard(['127.0.0.0/8'], () => []);
    guard.configure({ lanCidr: '192.168.2.0/24' as Ipv4Cidr, privateDestinations: 'deny' });
    const sockets = { replySocket: async () => ({ reason: 'no agent in this test' }) } as unknown as UdpAgentSockets;
    const relay = new UdpRelay(sockets, { connectTimeoutMs: 3_000, limits: DEFAULT_UDP_LIMITS, destinations: guard, dns: new DnsUpstreamSetting() }, createLogger('udp-relay-test', 'error'));
    cleanups.push(() => relay.stop());
    const route = (privateDestinations: 'allow' | null): MappingRoute => ({
      mappingId: 1, clientIp: CLIENT, listenPort: 20001 as Port, proxyId: 7,
      proxy: { protocol: 'socks5', host: '127.0.0.1', port: proxy.port } as MappingRoute['proxy'],
      handshake: 'sequential', blocked: null, privateDestinations,
    });
    relay.apply(new Map([[1, route(atOpen)]]));
    (relay as unknown as { relay(client: object, destination: object, data: Buffer): void }).relay({ ip: CLIENT, port: 5555 }, { ip: '203.0.113.7', port: 9 }, Buffer.from('client payload'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    relay.apply(new Map([[1, route(whenAnswered)]]));
    await new Promise((resolve) => setTimeout(resolve, 700));
    const problem = relay.clientProblems().get(1);
    return problem?.reason === 'associate_failed' ? `tried ${problem.detail}` : problem?.reason;
  }

  it('the global deny refuses a private relay (control)', async () => {
    assert.equal(await verdictAfter(null, null), 'destination_private');
  });

  it("a mapping's allow still lets it through (control)", async () => {
    assert.match((await verdictAfter('allow', 'allow')) ?? '', /^tried .*10\.1\.2\.3/);
  });

  it("a mapping's allow cleared while the ASSOCIATE is pending: the global deny refuses the relay", async () => {
    assert.equal(await verdictAfter('allow', null), 'destination_private', 'the flow relays to a private host under the global deny');
  });
});
