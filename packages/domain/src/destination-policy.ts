// Which addresses the gateway relays to, and where a proxy may be. Pure: the forwarder gives it
// the original destination of each client connection (and every address a proxy host resolves
// to), the api the proxy host being saved. ipaddr.js does the parsing: it understands every
// spelling the kernel accepts (IPv4-mapped IPv6, "127.1", "0x7f000001", zone ids), so a
// disguised loopback cannot slip through as "not an address".
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

/** Whether RFC 1918, CGNAT (100.64.0.0/10) and ULA (fc00::/7) destinations may be tunnelled. */
export const PRIVATE_DESTINATION_MODES = ['deny', 'allow'] as const;
export type PrivateDestinations = (typeof PRIVATE_DESTINATION_MODES)[number];
export const privateDestinationsSchema = z.enum(PRIVATE_DESTINATION_MODES);

/** Classes of addresses that are refused (private only when the policy says so). */
export const ADDRESS_CLASSES = ['invalid', 'unspecified', 'loopback', 'link_local', 'multicast', 'broadcast', 'reserved', 'gateway', 'lan', 'private'] as const;
export type AddressClass = (typeof ADDRESS_CLASSES)[number];

export type DestinationRefusal = `destination_${AddressClass}`;
export const DESTINATION_REFUSALS: readonly DestinationRefusal[] = ADDRESS_CLASSES.map((c) => `destination_${c}` as const);

/**
 * A proxy may be on a private network (many are), but never on the gateway itself (its loopback or
 * one of its own addresses: a proxy, or a SOCKS5 UDP relay a proxy names, there would reach the
 * gateway's own services), a link, or the LAN.
 */
const PROXY_REFUSED = ['unspecified', 'loopback', 'link_local', 'multicast', 'broadcast', 'reserved', 'gateway', 'lan'] as const;
export type ProxyHostRefusal = `proxy_${(typeof PROXY_REFUSED)[number]}`;
export const PROXY_HOST_REFUSALS: readonly ProxyHostRefusal[] = PROXY_REFUSED.map((c) => `proxy_${c}` as const);

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Network = [Address, number];

type RangeClass = Exclude<AddressClass, 'invalid' | 'gateway' | 'lan'>;

/** The ranges with a fixed meaning, by the name ipaddr.js gives them. */
const SPECIAL: Readonly<Record<string, RangeClass>> = {
  unspecified: 'unspecified',
  loopback: 'loopback',
  linkLocal: 'link_local',
  multicast: 'multicast',
  broadcast: 'broadcast',
  private: 'private',
  carrierGradeNat: 'private',
  uniqueLocal: 'private',
  // fec0::/10, deprecated but still routed by some stacks like a private range.
  deprecatedSiteLocal: 'private',
};

/**
 * Ranges ipaddr.js files under one name with others of another meaning ('reserved' holds the
 * documentation ranges the lab's WAN uses too): 240.0.0.0/4 is reserved for future use (no host
 * has such an address, and some stacks route it); 198.18.0.0/15 (benchmarking) and 192.0.0.0/24
 * (IETF protocol assignments: DS-Lite, NAT64 discovery) are used inside networks, as private ones.
 */
const SPECIAL_IPV4: readonly [Network, RangeClass][] = [
  [parseNetwork('240.0.0.0/4'), 'reserved'],
  [parseNetwork('198.18.0.0/15'), 'private'],
  [parseNetwork('192.0.0.0/24'), 'private'],
];

/** The class of an address's range (undefined: a public address); 255.255.255.255 is the broadcast address, not class E. */
function rangeClass(address: Address): RangeClass | undefined {
  const named = SPECIAL[address.range()];
  if (named !== undefined) return named;
  return SPECIAL_IPV4.find(([network]) => inNetwork(address, network))?.[1];
}

const DESCRIPTION: Readonly<Record<AddressClass, string>> = {
  invalid: 'not an IP address',
  unspecified: 'the unspecified address',
  loopback: 'a loopback address (the gateway itself)',
  link_local: 'a link-local address (169.254.0.0/16 or fe80::/10, e.g. a cloud metadata service)',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'in 240.0.0.0/4, reserved for future use',
  gateway: "one of the gateway's own addresses",
  lan: 'inside the LAN prefix',
  private: 'in a private range (RFC 1918, 100.64.0.0/10, 198.18.0.0/15, 192.0.0.0/24 or fc00::/7)',
};

export function describeAddressClass(cls: AddressClass): string {
  return DESCRIPTION[cls];
}

/** Parses any spelling of an address; IPv4-mapped IPv6 becomes IPv4. null: not an address. */
function parseAddress(text: string): Address | null {
  const zone = text.indexOf('%');
  const bare = zone === -1 ? text : text.slice(0, zone);
  if (!ipaddr.isValid(bare)) return null;
  try {
    return ipaddr.process(bare);
  } catch {
    return null;
  }
}

/**
 * The gateway's own addresses: single addresses, and the ranges the kernel delivers locally as a
 * whole (a local route such as `ip route add local 10.9.0.0/16 dev lo`, an address with a prefix on
 * lo), given as networks. Entries in any spelling; an entry that is neither is ignored.
 */
export class GatewayAddresses {
  /** In one spelling each (ipaddr.js's), for lookups by a parsed address. */
  private readonly single = new Set<string>();
  private readonly ranges: Network[] = [];

  constructor(entries: Iterable<string>) {
    for (const entry of entries) {
      if (entry.includes('/')) {
        if (ipaddr.isValidCIDR(entry)) this.ranges.push(parseNetwork(entry));
      } else {
        const address = parseAddress(entry);
        if (address !== null) this.single.add(address.toString());
      }
    }
  }

  /** `address` in any spelling, or parsed. */
  has(address: string | Address): boolean {
    const parsed = typeof address === 'string' ? parseAddress(address) : address;
    if (parsed === null) return false;
    return this.single.has(parsed.toString()) || this.ranges.some((network) => inNetwork(parsed, network));
  }
}

function inNetwork(address: Address, [network, bits]: Network): boolean {
  return address.kind() === network.kind() && address.match(network, bits);
}

function parseNetwork(cidr: string): Network {
  return ipaddr.parseCIDR(cidr);
}

export interface DestinationPolicyInput {
  /** settings.lanCidr */
  readonly lanCidr: string;
  /** Every address on the gateway's interfaces and every range it delivers locally, any spelling (GatewayAddresses). */
  readonly gatewayAddresses: Iterable<string>;
  /** settings.privateDestinations: the default for mappings without their own choice. */
  readonly privateDestinations: PrivateDestinations;
}

/**
 * Decides per original destination whether a client's connection may be relayed. Refused always:
 * unspecified, loopback, link-local, multicast, broadcast, the gateway's own addresses and the
 * LAN prefix (a LAN client must not use the relay to reach the gateway or its neighbours); private
 * ranges as the mapping's override or the global setting says. Anything unparsable is refused.
 */
export class DestinationPolicy {
  private readonly lan: Network;
  private readonly gateway: GatewayAddresses;
  readonly privateDestinations: PrivateDestinations;

  constructor(input: DestinationPolicyInput) {
    this.lan = parseNetwork(input.lanCidr);
    this.gateway = new GatewayAddresses(input.gatewayAddresses);
    this.privateDestinations = input.privateDestinations;
  }

  /** null: relay it. `override` is the mapping's own choice for private ranges (null: the default). */
  refusal(destination: string, override: PrivateDestinations | null = null): DestinationRefusal | null {
    const address = parseAddress(destination);
    if (address === null) return 'destination_invalid';
    const special = rangeClass(address);
    if (special !== undefined && special !== 'private') return `destination_${special}`;
    if (this.gateway.has(address)) return 'destination_gateway';
    if (inNetwork(address, this.lan)) return 'destination_lan';
    if (special === 'private' && (override ?? this.privateDestinations) === 'deny') return 'destination_private';
    return null;
  }
}

export interface ProxyHostPolicyInput {
  /** settings.lanCidr */
  readonly lanCidr: string;
  /** Networks the operator allows proxies in although they would be refused (e.g. a proxy client running on the gateway itself). */
  readonly allowedNetworks?: readonly string[];
  /** As DestinationPolicyInput's; where the caller knows them (the api does not run there). */
  readonly gatewayAddresses?: Iterable<string>;
}

export interface ProxyHostProblem {
  readonly reason: ProxyHostRefusal;
  /** One sentence naming the host and why, for an API error or a log line. */
  readonly message: string;
}

/** RFC 6761: "localhost" and every name under it are the loopback interface. */
const LOCALHOST = /^(.+\.)?localhost\.?$/i;

/**
 * Where a proxy may be: never on the gateway's loopback or its own addresses, a link-local or
 * unspecified, multicast or broadcast address, nor inside the LAN prefix, unless the operator
 * allowed that network.
 */
export class ProxyHostPolicy {
  private readonly lan: Network;
  private readonly allowed: readonly Network[];
  private readonly gateway: GatewayAddresses;

  constructor(input: ProxyHostPolicyInput) {
    this.lan = parseNetwork(input.lanCidr);
    this.allowed = (input.allowedNetworks ?? []).map(parseNetwork);
    this.gateway = new GatewayAddresses(input.gatewayAddresses ?? []);
  }

  /**
   * `host` is a literal address in any spelling, or a name. Names other than localhost are not
   * resolved here: the dialers check each address a name resolves to at dial time.
   */
  problem(host: string): ProxyHostProblem | null {
    if (LOCALHOST.test(host)) return problem(host, 'loopback');
    const address = parseAddress(host);
    if (address === null || this.allowed.some((network) => inNetwork(address, network))) return null;
    const special = rangeClass(address);
    if (special !== undefined && special !== 'private') return problem(host, special);
    // The LAN first: the gateway's LAN address is named as the LAN, as it always was.
    if (inNetwork(address, this.lan)) return problem(host, 'lan');
    if (this.gateway.has(address)) return problem(host, 'gateway');
    return null;
  }
}

function problem(host: string, cls: (typeof PROXY_REFUSED)[number]): ProxyHostProblem {
  return { reason: `proxy_${cls}`, message: `proxy host ${host} is ${DESCRIPTION[cls]}; proxies there are refused` };
}

/** A comma-separated list of IPv4/IPv6 networks (e.g. "127.0.0.0/8, fd00::/8"), for an env variable. */
export const networkListSchema = z
  .string()
  .transform((s) => s.split(',').map((part) => part.trim()).filter((part) => part !== ''))
  .refine((list) => list.every((cidr) => ipaddr.isValidCIDR(cidr)), 'must be a comma-separated list of networks like 127.0.0.0/8 or fd00::/8');
