import { z } from 'zod';
import { DestinationPolicy, describeAddressClass } from './destination-policy.js';
import { type Ipv4, ipv4Schema, type Port, portSchema } from './net.js';

/**
 * settings.dnsUpstream (issue 15, migration 0019): with dnsMode `proxy`, the resolver a client's
 * DNS is sent to through its proxy instead of the one it asked; null: the one it asked. Written
 * `203.0.113.53` or `203.0.113.53:5353` (port 53 when left out).
 */
export interface DnsUpstream {
  readonly ip: Ipv4;
  readonly port: Port;
}

/** Where DNS is asked, over UDP and TCP alike; a dnsUpstream without a port means it. */
export const DNS_PORT = 53;

const SPELLING = /^([0-9.]+)(?::([0-9]{1,5}))?$/;

/** The address and port of a dnsUpstream text, or why it is not one (a message without the field name). */
export function readDnsUpstream(text: string): DnsUpstream | { readonly problem: string } {
  const match = SPELLING.exec(text);
  const ip = ipv4Schema.safeParse(match?.[1]);
  if (match === null || !ip.success) return { problem: 'must be an IPv4 address with an optional port, like 203.0.113.53 or 203.0.113.53:5353' };
  const port = portSchema.safeParse(match[2] === undefined ? DNS_PORT : Number(match[2]));
  if (!port.success) return { problem: `port ${match[2]} must be between 1 and 65535` };
  return { ip: ip.data, port: port.data };
}

/** For a stored value the settings schema has already checked. */
export function parseDnsUpstream(text: string): DnsUpstream {
  const read = readDnsUpstream(text);
  if ('problem' in read) throw new Error(`dnsUpstream ${JSON.stringify(text)}: ${read.problem}`);
  return read;
}

/**
 * Why `text` cannot be the resolver clients are sent to, or null. Its address must be one the
 * proxies can reach on the WAN side: not the unspecified address, loopback, link-local,
 * multicast, broadcast or the LAN prefix (that would be the gateway's or a neighbour's own
 * resolver, which a proxy cannot reach and a client must not be sent to). Private ranges are
 * allowed here (a proxy may sit in front of a private resolver); the forwarder's destination
 * guard still applies privateDestinations per client, as to every destination.
 */
export function dnsUpstreamProblem(text: string, lanCidr: string): string | null {
  const read = readDnsUpstream(text);
  if ('problem' in read) return read.problem;
  const refusal = new DestinationPolicy({ lanCidr, gatewayAddresses: [], privateDestinations: 'allow' }).refusal(read.ip);
  if (refusal === null) return null;
  return `${read.ip} is ${describeAddressClass(refusal.slice('destination_'.length) as Parameters<typeof describeAddressClass>[0])}: the resolver must be reachable through the proxies`;
}

/** The column's spelling; the meaning (dnsUpstreamProblem) needs lanCidr and is checked by the settings schema. */
export const dnsUpstreamSchema = z.string().max(21, 'must be an IPv4 address with an optional port, like 203.0.113.53 or 203.0.113.53:5353');
