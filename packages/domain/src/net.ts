import { isIPv4 } from 'node:net';
import { z } from 'zod';

/**
 * Values that may reach an nft script. Each is a branded string or number that can only be
 * obtained through its parser, so a raw database string can never be rendered by mistake.
 */
export type Ipv4 = string & { readonly __brand: 'Ipv4' };
export type Ipv4Cidr = string & { readonly __brand: 'Ipv4Cidr' };
export type Port = number & { readonly __brand: 'Port' };
export type InterfaceName = string & { readonly __brand: 'InterfaceName' };

/** Canonical dotted quad: four decimal octets, no leading zeros (rejects "010.0.0.1"). */
const CANONICAL_IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Linux IFNAMSIZ is 16 including the NUL; we also refuse anything nft would need quoted. */
const INTERFACE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export const ipv4Schema = z
  .string()
  .refine((s) => CANONICAL_IPV4.test(s) && isIPv4(s), 'must be an IPv4 address like 192.168.2.10')
  .transform((s) => s as Ipv4);

export const portSchema = z
  .number()
  .int('must be a whole number')
  .min(1, 'must be between 1 and 65535')
  .max(65535, 'must be between 1 and 65535')
  .transform((n) => n as Port);

/**
 * Names that pass the syntax but are no usable LAN/WAN interface: `all` and `default` name every
 * interface in sysctl paths (net.ipv4.conf.<name>), `lo` is the gateway's own loopback. Whether a
 * name exists is only known in the gateway's namespace: the agent checks that.
 */
const NOT_AN_INTERFACE = new Set(['all', 'default', 'lo']);

export const interfaceNameSchema = z
  .string()
  .regex(INTERFACE_NAME, 'must be a network interface name (1-15 of A-Z a-z 0-9 _ . -)')
  .superRefine((s, ctx) => {
    if (NOT_AN_INTERFACE.has(s)) ctx.addIssue({ code: 'custom', message: `"${s}" cannot be used: ${s === 'lo' ? 'it is the loopback interface' : 'it names every interface in sysctl'}` });
  })
  .transform((s) => s as InterfaceName);

export const ipv4CidrSchema = z
  .string()
  .refine((s) => {
    const [ip, bits, ...rest] = s.split('/');
    if (rest.length > 0 || ip === undefined || bits === undefined || !/^\d{1,2}$/.test(bits)) return false;
    const prefix = Number(bits);
    if (!CANONICAL_IPV4.test(ip) || prefix > 32) return false;
    return (ipv4ToInt(ip) & prefixMask(prefix)) >>> 0 === ipv4ToInt(ip);
  }, 'must be an IPv4 network like 192.168.2.0/24 (host bits zero)')
  .transform((s) => s as Ipv4Cidr);

export function parseIpv4(value: string): Ipv4 {
  return ipv4Schema.parse(value);
}

export function parsePort(value: number): Port {
  return portSchema.parse(value);
}

export function parseInterfaceName(value: string): InterfaceName {
  return interfaceNameSchema.parse(value);
}

export function parseIpv4Cidr(value: string): Ipv4Cidr {
  return ipv4CidrSchema.parse(value);
}

export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => ((acc << 8) | Number(octet)) >>> 0, 0);
}

/** Whether a host can have this address: not "this network" (0/8), loopback, multicast, reserved or broadcast. */
export function isUnicastIpv4(ip: string): boolean {
  const first = Number(ip.split('.')[0]);
  return first !== 0 && first !== 127 && first < 224;
}

const LINK_LOCAL_START = ipv4ToInt('169.254.0.0');
const LINK_LOCAL_END = ipv4ToInt('169.254.255.255');

/** Whether an IPv4 address is link-local (169.254.0.0/16: a cloud metadata service among them). */
export function isLinkLocalIpv4(ip: string): boolean {
  const n = ipv4ToInt(ip);
  return n >= LINK_LOCAL_START && n <= LINK_LOCAL_END;
}

/**
 * Why a network cannot be a LAN, or null: the gateway and its clients need room (/8 to /30), and
 * every client address must be one a host can have (unicast, not link-local). A LAN of /0 made every
 * address a client and every proxy and destination "on the LAN".
 */
export function lanNetworkProblem(cidr: Ipv4Cidr): string | null {
  const [network, bits] = cidr.split('/') as [string, string];
  const prefix = Number(bits);
  if (prefix < 8) return `lanCidr ${cidr} is wider than /8: no LAN is`;
  if (prefix > 30) return `lanCidr ${cidr} is narrower than /30: no room for the gateway and a client`;
  const first = Number(network.split('.')[0]);
  if (first === 0) return `lanCidr ${cidr} is in 0.0.0.0/8 ("this network")`;
  if (first === 127) return `lanCidr ${cidr} is in loopback space (127.0.0.0/8)`;
  if (first >= 224) return `lanCidr ${cidr} is in ${first < 240 ? 'multicast' : 'reserved'} space`;
  const start = ipv4ToInt(network);
  const end = start + 2 ** (32 - prefix) - 1;
  if (start <= LINK_LOCAL_END && end >= LINK_LOCAL_START) return `lanCidr ${cidr} holds link-local addresses (169.254.0.0/16)`;
  return null;
}

function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function cidrContains(cidr: Ipv4Cidr, ip: Ipv4): boolean {
  const [network, bits] = cidr.split('/') as [string, string];
  const mask = prefixMask(Number(bits));
  return ((ipv4ToInt(ip) & mask) >>> 0) === ipv4ToInt(network);
}

/**
 * Which end of the network `ip` is, or null for any other address: the network and broadcast
 * addresses of a LAN (/8 to /30, lanNetworkProblem) are no host's, so no client's.
 */
export function networkEndOf(cidr: Ipv4Cidr, ip: Ipv4): 'network' | 'broadcast' | null {
  const [network, bits] = cidr.split('/') as [string, string];
  const prefix = Number(bits);
  if (prefix > 30) return null;
  const first = ipv4ToInt(network);
  const n = ipv4ToInt(ip);
  if (n === first) return 'network';
  return n === ((first + 2 ** (32 - prefix) - 1) >>> 0) ? 'broadcast' : null;
}
