// The addresses this host accepts as its own, in any family, sorted. The forwarder and the health
// service run in the gateway's network namespace, so these are the gateway's own addresses: what a
// client's destination, a proxy or a SOCKS5 UDP relay must never be.
//
// os.networkInterfaces() alone is not enough: libuv lists only interfaces that are up AND running,
// while the kernel still delivers to the addresses of an interface that is up without a carrier
// (an unplugged second WAN, docker0 with no container). So the kernel's own tables are read too:
// the IPv4 local routes of fib_trie and every IPv6 address of if_inet6, both of this network
// namespace and readable by any user (a few microseconds each). Read under /proc/self/net: the
// systemd units' ProcSubset=pid hides /proc/net but not a process's own directory.
import { readFileSync } from 'node:fs';
import { SocketAddress } from 'node:net';
import { networkInterfaces } from 'node:os';

export function gatewayAddresses(): string[] {
  const addresses = new Set<string>();
  for (const entries of Object.values(networkInterfaces())) for (const entry of entries ?? []) addresses.add(entry.address);
  for (const address of localIpv4(procFile('/proc/self/net/fib_trie'))) addresses.add(address);
  for (const address of ipv6Addresses(procFile('/proc/self/net/if_inet6'))) addresses.add(address);
  return [...addresses].sort();
}

/** A /proc file's text, or '' where it does not exist (no IPv6 in this kernel). */
function procFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The single addresses of the kernel's local routes (`/32 host LOCAL` under their `|-- a.b.c.d` line) in /proc/net/fib_trie. */
export function localIpv4(fibTrie: string): string[] {
  const found = new Set<string>();
  let leaf: string | null = null;
  for (const line of fibTrie.split('\n')) {
    const node = /\|-- (\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (node) leaf = node[1]!;
    else if (leaf !== null && /^\s+\/32 host LOCAL\s*$/.test(line)) found.add(leaf);
  }
  return [...found];
}

/** Every address of /proc/net/if_inet6 (32 hex digits, then index, prefix, scope, flags, name), as inet_ntop writes it. */
export function ipv6Addresses(ifInet6: string): string[] {
  const found: string[] = [];
  for (const line of ifInet6.split('\n')) {
    const hex = /^([0-9a-f]{32})\s/.exec(line)?.[1];
    if (hex !== undefined) found.push(new SocketAddress({ address: hex.match(/.{4}/g)!.join(':'), family: 'ipv6' }).address);
  }
  return found;
}
