/**
 * The forwarder's real UdpRelay outside a forwarder, for the tests of what it decides: a
 * DestinationGuard for the lab's LAN (proxies on loopback allowed, private destinations denied
 * globally), the agent's sockets as the test gives them, and the datagram entry the agent's tproxy
 * socket would feed (its reader's callback, private: no transparent socket of the agent here).
 */
import type { Ipv4, Ipv4Cidr, Port } from '@pgw/domain';
import { createLogger, type Logger } from '@pgw/log';
import { DnsUpstreamSetting } from '../../services/forwarder/src/dns/dns-upstream-setting.js';
import { DestinationGuard } from '../../services/forwarder/src/routes/destination-guard.js';
import type { MappingRoute } from '../../services/forwarder/src/routes/routes.js';
import type { UdpAgentSockets } from '../../services/forwarder/src/udp/udp-agent-sockets.js';
import type { Endpoint } from '../../services/forwarder/src/udp/udp-flow.js';
import { DEFAULT_UDP_LIMITS } from '../../services/forwarder/src/udp/udp-limits.js';
import { UdpRelay } from '../../services/forwarder/src/udp/udp-relay.js';

export const UDP_CLIENT = '192.168.2.10' as Ipv4;

export interface UdpRelayUnderTest {
  readonly relay: UdpRelay;
  readonly guard: DestinationGuard;
  /** Mapping 1 of UDP_CLIENT through the proxy on 127.0.0.1:`proxyPort`. */
  route(changes?: Partial<MappingRoute>): MappingRoute;
  /** A datagram of UDP_CLIENT (from `clientPort`, 5555 unless given) to `destination`, as the tproxy socket hands it over. */
  send(destination: Endpoint, data: Buffer, clientPort?: number): void;
  stop(): void;
}

export function udpRelayUnderTest(options: {
  proxyPort: number;
  protocol?: 'socks5' | 'http';
  replySocket: UdpAgentSockets['replySocket'];
  dns?: DnsUpstreamSetting;
  /** The gateway's own addresses, read again at guard.refreshAddresses(). */
  addresses?: () => string[];
  connectTimeoutMs?: number;
  logger?: Logger;
}): UdpRelayUnderTest {
  const guard = new DestinationGuard(['127.0.0.0/8'], options.addresses ?? (() => []));
  guard.configure({ lanCidr: '192.168.2.0/24' as Ipv4Cidr, privateDestinations: 'deny' });
  const sockets = { replySocket: options.replySocket } as unknown as UdpAgentSockets;
  const relay = new UdpRelay(sockets, { connectTimeoutMs: options.connectTimeoutMs ?? 3_000, limits: DEFAULT_UDP_LIMITS, destinations: guard, dns: options.dns ?? new DnsUpstreamSetting() }, options.logger ?? createLogger('udp-relay-test', 'error'));
  const entry = relay as unknown as { relay(client: Endpoint, destination: Endpoint, data: Buffer): void };
  return {
    relay,
    guard,
    route: (changes = {}) => ({
      mappingId: 1,
      clientIp: UDP_CLIENT,
      listenPort: 20001 as Port,
      proxyId: 7,
      proxy: { protocol: options.protocol ?? 'socks5', host: '127.0.0.1', port: options.proxyPort } as MappingRoute['proxy'],
      handshake: 'sequential',
      blocked: null,
      privateDestinations: null,
      ...changes,
    }),
    send: (destination, data, clientPort = 5555) => entry.relay({ ip: UDP_CLIENT, port: clientPort }, destination, data),
    stop: () => relay.stop(),
  };
}

/** No reply socket from the agent: the flow's destinations are refused, the association still opens. */
export const noReplySocket: UdpAgentSockets['replySocket'] = async () => ({ reason: 'no agent in this test' });
