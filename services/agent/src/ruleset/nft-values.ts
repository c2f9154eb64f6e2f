import { type InterfaceName, type Ipv4, type Ipv4Cidr, type MacAddress, MAX_FLOWS_PER_CLIENT, MAX_TCP_NEW_PER_SECOND, MAX_UDP_NEW_PER_SECOND, type Port } from '@pgw/domain';

/**
 * Last line of defence before a value is written into nft syntax. The branded types already
 * guarantee these shapes; a value forced in with a cast (or a corrupted state file) still
 * stops here with an error instead of reaching the root-run `nft`.
 */
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const CIDR = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/([0-9]|[12]\d|3[0-2])$/;
const IFACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
/** Lower-case colon form, first octet even: unicast (multicast and broadcast have its lowest bit set). */
const UNICAST_MAC = /^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$/;

export function nftIpv4(value: Ipv4): string {
  if (typeof value !== 'string' || !IPV4.test(value)) throw new Error(`refusing to render ${JSON.stringify(value)}: not an IPv4 address`);
  return value;
}

export function nftCidr(value: Ipv4Cidr): string {
  if (typeof value !== 'string' || !CIDR.test(value)) throw new Error(`refusing to render ${JSON.stringify(value)}: not an IPv4 network`);
  return value;
}

export function nftPort(value: Port): string {
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`refusing to render ${JSON.stringify(value)}: not a port`);
  return String(value);
}

/** A cap of tracked connections (flow 23): a whole number from 1 to MAX_FLOWS_PER_CLIENT. */
export function nftCount(value: number): string {
  if (!Number.isInteger(value) || value < 1 || value > MAX_FLOWS_PER_CLIENT) throw new Error(`refusing to render ${JSON.stringify(value)}: not a count of connections`);
  return String(value);
}

const RATE_LIMITS = { datagrams: MAX_UDP_NEW_PER_SECOND, connections: MAX_TCP_NEW_PER_SECOND } as const;

/** A per-client rate of datagrams (flow 24) or new connections (flow 25): a whole number from 1 to its MAX_*_NEW_PER_SECOND. */
export function nftRate(value: number, of: keyof typeof RATE_LIMITS): string {
  if (!Number.isInteger(value) || value < 1 || value > RATE_LIMITS[of]) throw new Error(`refusing to render ${JSON.stringify(value)}: not a rate of ${of}`);
  return String(value);
}

/** Quoted, because nft would otherwise read names like "eth0.100" or "1" as other tokens. */
export function nftInterface(value: InterfaceName): string {
  if (typeof value !== 'string' || !IFACE.test(value)) throw new Error(`refusing to render ${JSON.stringify(value)}: not an interface name`);
  return `"${value}"`;
}

export function nftUid(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xfffffffe) throw new Error(`refusing to render ${JSON.stringify(value)}: not a uid`);
  return String(value);
}

export function nftMac(value: MacAddress): string {
  if (typeof value !== 'string' || !UNICAST_MAC.test(value) || value === '00:00:00:00:00:00') {
    throw new Error(`refusing to render ${JSON.stringify(value)}: not a unicast MAC address`);
  }
  return value;
}

/** A packet or conntrack mark as nft writes it: 0x and eight hex digits. */
export function nftMark(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new Error(`invalid mark for nft: ${JSON.stringify(value)}`);
  return `0x${value.toString(16).padStart(8, '0')}`;
}
