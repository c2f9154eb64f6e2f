import type { MappingUdpDropped, Proxy } from '../api/types.js';
import type { Label } from './labels.js';

/**
 * Whether a proxy carries its clients' UDP (TPROXY mode), as the proxies table shows it beside the
 * handshake: what the health probe learned, or that it is still learning. An HTTP CONNECT proxy
 * has no UDP at all.
 */
export function udpSupportLabel(proxy: Pick<Proxy, 'protocol' | 'udpSupport'>): string {
  if (proxy.udpSupport === 'supported') return 'yes (UDP ASSOCIATE)';
  if (proxy.udpSupport === 'unsupported') return proxy.protocol === 'http' ? 'no (HTTP proxy)' : 'no (refused UDP ASSOCIATE)';
  return 'learning';
}

/** The forwarder's drop reasons (its UdpDropReason) in the operator's words; another reason is shown as sent. */
const REASONS: Readonly<Record<string, string>> = {
  proxy_without_udp: 'HTTP proxy carries no UDP',
  associate_failed: 'proxy refused or failed UDP ASSOCIATE',
  blocked: 'client blocked',
  limit_client: 'client’s flow limit reached',
  limit_total: 'gateway’s flow limit reached',
  limit_destinations: 'client’s destination limit reached',
  limit_destinations_total: 'gateway’s destination limit reached',
  reply_socket_refused: 'gateway refused the reply socket',
  queue_full: 'queue full while the association opened',
  truncated: 'datagram too large',
  reply_send_failed: 'answer could not be sent to the client',
  dns_invalid: 'not a DNS query',
  dns_limit_client: 'client’s DNS query limit reached',
  dns_limit_total: 'gateway’s DNS query limit reached',
  dns_tunnel_failed: 'DNS through the proxy failed',
  dns_timeout: 'no DNS answer through the proxy in time',
  dns_bad_answer: 'resolver’s answer did not match the query',
};

function reasonText(reason: string): string {
  if (REASONS[reason]) return REASONS[reason];
  if (reason.startsWith('destination_')) return `destination refused (${reason.slice('destination_'.length).replace(/_/g, ' ')})`;
  if (reason.startsWith('proxy_')) return `proxy or its UDP relay refused (${reason.slice('proxy_'.length).replace(/_/g, ' ')})`;
  return reason.replace(/_/g, ' ');
}

/** The mappings table's badge for a TPROXY client whose UDP is dropped (never sent directly), with the count. */
export function udpDropLabel(dropped: NonNullable<MappingUdpDropped>): Label {
  return { tone: 'warn', text: `UDP dropped: ${reasonText(dropped.reason)} (${dropped.datagrams})` };
}

/** Its tooltip: the reason and what the forwarder said (the proxy's refusal, ...). */
export function udpDropTitle(dropped: NonNullable<MappingUdpDropped>): string {
  return dropped.detail ? `${reasonText(dropped.reason)}: ${dropped.detail}` : reasonText(dropped.reason);
}
