import { cidrContains, type GatewayAddresses, type GatewayPolicy, type Ipv4, isLinkLocalIpv4, isUnicastIpv4 } from '@pgw/domain';

/**
 * The port of the transparent UDP socket nft's tproxy feeds (render-tproxy.ts), on 127.0.0.1.
 * The agent binds it at start without SO_REUSEADDR, so no other socket can share it while the
 * agent runs; outside the kernel's ephemeral range (32768-60999 by default) and below the usual
 * forwarder port window. Not below 1024: the agent holds CAP_NET_ADMIN, not CAP_NET_BIND_SERVICE.
 */
export const TPROXY_UDP_PORT = 15301;

/**
 * Why the agent refuses the forwarder a reply socket bound to `destination` and connected to
 * `client`, or null. Such a socket sends to a LAN client from an address that is not the
 * gateway's, so it is made only for a client that is effective in TPROXY mode right now, and
 * never with an address the client could not have reached through its proxy: the gateway's own
 * LAN and addresses, loopback, link-local, "this network", multicast and broadcast.
 */
export function replySocketRefusal(policy: GatewayPolicy | null, client: string, destination: string, gatewayAddresses: () => GatewayAddresses): string | null {
  if (policy === null) return 'the agent has no policy in force yet';
  if (policy.interceptMode !== 'tproxy') return 'the gateway is not in TPROXY mode';
  const known = policy.clients.find((c) => c.ip === client);
  if (known === undefined) return `client ${client} is not mapped`;
  if (known.blocked !== null) return `client ${client} is blocked (${known.blocked})`;
  if (!isUnicastIpv4(destination)) return `destination ${destination} is not a unicast remote address`;
  if (cidrContains(policy.lan.cidr, destination as Ipv4)) return `destination ${destination} is on the LAN (${policy.lan.cidr})`;
  // The forwarder refuses these for a client's datagrams; a redirected DNS query is asked for at
  // the address the client wrote, which only this check judges then.
  if (isLinkLocalIpv4(destination)) return `destination ${destination} is link-local`;
  // Read last, and only for an ask that passed the rest: a burst of refused asks reads nothing.
  if (gatewayAddresses().has(destination)) return `destination ${destination} is an address of this gateway`;
  return null;
}
