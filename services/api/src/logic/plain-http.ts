import { isIPv4, isIPv6 } from 'node:net';

/** How the api is reached, besides the address it listens on. */
export interface ApiReach {
  readonly tls: boolean;
  /** PGW_TRUST_PROXY: a TLS proxy in front (which then may sit on another host). */
  readonly trustProxy: string | false;
  /** PGW_API_PUBLISHED_ON_LOOPBACK: a container whose port is published on the host's loopback only. */
  readonly publishedOnLoopback: boolean;
}

/**
 * Why serving the api over plain HTTP on `address` (where it listens) exposes the operators'
 * passwords and session tokens on a network, or null when it does not: TLS is on, the address is
 * loopback (an SSH tunnel or a local reverse proxy reaches it), a TLS proxy is in front, or the
 * container's port is published on the host's loopback only.
 */
export function plainHttpExposure(address: string, reach: ApiReach): string | null {
  if (reach.tls || reach.trustProxy !== false || reach.publishedOnLoopback || isLoopback(address)) return null;
  const where = address === '0.0.0.0' || address === '::' ? 'every address of this host' : address;
  return `the api and console answer over plain HTTP on ${where}: passwords and session tokens cross the network unencrypted; set PGW_TLS_CERT_FILE and PGW_TLS_KEY_FILE, or listen on 127.0.0.1 behind a TLS proxy (PGW_TRUST_PROXY)`;
}

function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIPv4(v4)) return v4.startsWith('127.');
  return isIPv6(address) && (address === '::1' || /^0*:0*:0*:0*:0*:0*:0*:0*1$/.test(address));
}
