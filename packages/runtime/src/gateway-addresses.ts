// The addresses this host accepts as its own, in any family, sorted: single addresses, and as
// networks ("10.9.0.0/16") the ranges it delivers locally as a whole (a local route, `ip route add
// local 10.9.0.0/16 dev lo`, or an address with a prefix on lo: AnyIP). The forwarder and the health
// service run in the gateway's network namespace, so these are the gateway's own addresses: what a
// client's destination, a proxy or a SOCKS5 UDP relay must never be (@pgw/domain GatewayAddresses).
//
// os.networkInterfaces() alone is not enough: libuv lists only interfaces that are up AND running,
// while the kernel still delivers to the addresses of an interface that is up without a carrier
// (an unplugged second WAN, docker0 with no container). So the kernel's own tables are read too:
// the IPv4 local table of fib_trie and every IPv6 address of if_inet6, both of this network
// namespace and readable by any user (a few microseconds each). Read under /proc/self/net: the
// systemd units' ProcSubset=pid hides /proc/net but not a process's own directory. IPv6 local
// ranges are not read: /proc/net/ipv6_route does not say which table a route is in (see
// localIpv4), and the LAN gets no IPv6 (a proxy host is a name or an IPv4 literal).
import { readFileSync } from 'node:fs';
import { SocketAddress } from 'node:net';
import { networkInterfaces } from 'node:os';

/** Throws where the addresses cannot be read (no descriptor left): callers keep the list they read last. */
export function gatewayAddresses(): string[] {
  const addresses = new Set<string>();
  for (const entries of Object.values(networkInterfaces())) for (const entry of entries ?? []) addresses.add(entry.address);
  for (const address of localIpv4(procFile('/proc/self/net/fib_trie'))) addresses.add(address);
  for (const address of ipv6Addresses(procFile('/proc/self/net/if_inet6'))) addresses.add(address);
  return [...addresses].sort();
}

/**
 * gatewayAddresses() for a service that reads them again and again: where a read fails (no
 * descriptor left: a flood of connections), the addresses read last stand in, since forgetting them
 * would let a proxy or destination at the gateway pass, and `onError` hears of it once per spell of
 * failures. Only a first read that fails throws (the service cannot start without them).
 */
export class GatewayAddressReader {
  private last: string[] | null = null;
  private failing = false;

  constructor(
    private readonly onError: (error: Error) => void,
    private readonly read: () => string[] = gatewayAddresses,
  ) {}

  current(): string[] {
    try {
      this.last = this.read();
      this.failing = false;
    } catch (error) {
      if (this.last === null) throw error;
      if (!this.failing) this.onError(error as Error);
      this.failing = true;
    }
    return this.last;
  }
}

/**
 * A /proc file's text, or '' where it does not exist (no IPv6 in this kernel). Any other failure
 * (no descriptor left) throws, as os.networkInterfaces() then does: an empty list would silently
 * forget addresses, so the caller keeps the last list it read instead.
 */
function procFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

/**
 * The routes of the kernel's local table in /proc/net/fib_trie (`/N host LOCAL` under their
 * `|-- a.b.c.d` line, in the `Local:` section): a /32 as its address, a wider one as its network.
 * Only that table says what this host delivers to itself; a policy-routing table may hold a local
 * route too (TPROXY's `local 0.0.0.0/0 dev lo table 100`, for marked packets only), which must not
 * make every address the gateway's. Without policy rules the kernel merges the tables and prints
 * the same trie under `Main:` and `Local:`.
 */
export function localIpv4(fibTrie: string): string[] {
  const found = new Set<string>();
  let inLocal = false;
  let leaf: string | null = null;
  for (const line of fibTrie.split('\n')) {
    if (/^\S.*:\s*$/.test(line)) {
      inLocal = line.trim() === 'Local:';
      leaf = null;
      continue;
    }
    if (!inLocal) continue;
    const node = /\|-- (\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    const local = /^\s+\/(\d+) host LOCAL\s*$/.exec(line);
    if (node) leaf = node[1]!;
    else if (leaf !== null && local && local[1] === '32') found.add(leaf);
    // Loopback's 127.0.0.0/8 is left to its own class: the policies refuse it as loopback first,
    // where an operator may allow part of it for a proxy client on the gateway (PGW_PROXY_ALLOW_CIDRS).
    else if (leaf !== null && local && !leaf.startsWith('127.')) found.add(`${leaf}/${local[1]}`);
  }
  return [...found];
}

function ipv6FromHex(hex: string): string {
  return new SocketAddress({ address: hex.match(/.{4}/g)!.join(':'), family: 'ipv6' }).address;
}

/** Every address of /proc/net/if_inet6 (32 hex digits, then index, prefix, scope, flags, name), as inet_ntop writes it. */
export function ipv6Addresses(ifInet6: string): string[] {
  const found: string[] = [];
  for (const line of ifInet6.split('\n')) {
    const hex = /^([0-9a-f]{32})\s/.exec(line)?.[1];
    if (hex !== undefined) found.push(ipv6FromHex(hex));
  }
  return found;
}
