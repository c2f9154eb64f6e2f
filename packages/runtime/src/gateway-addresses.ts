// The addresses on this host's interfaces, in any family, sorted. The forwarder and the health
// service run in the gateway's network namespace, so these are the gateway's own addresses: what a
// client's destination, a proxy or a SOCKS5 UDP relay must never be (getifaddrs, a few microseconds).
import { networkInterfaces } from 'node:os';

export function gatewayAddresses(): string[] {
  const addresses: string[] = [];
  for (const entries of Object.values(networkInterfaces())) for (const entry of entries ?? []) addresses.push(entry.address);
  return addresses.sort();
}
