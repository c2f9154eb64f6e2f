import { isIPv4, isIPv6 } from 'node:net';

/**
 * Why serving the api over plain HTTP on `address` (where it listens) exposes the operators'
 * passwords and session tokens on a network, or null when it does not: TLS is on, the address is
 * loopback (an SSH tunnel or a local reverse proxy reaches it), or PGW_TRUST_PROXY names the TLS
 * proxy in front (which then may sit on another host).
 */
export function plainHttpExposure(address: string, tls: boolean, trustProxy: string | false): string | null {
  if (tls || trustProxy !== false || isLoopback(address)) return null;
  const where = address === '0.0.0.0' || address === '::' ? 'every address of this host' : address;
  return `the api and console answer over plain HTTP on ${where}: passwords and session tokens cross the network unencrypted; set PGW_TLS_CERT_FILE and PGW_TLS_KEY_FILE, or listen on 127.0.0.1 behind a TLS proxy (PGW_TRUST_PROXY)`;
}

function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIPv4(v4)) return v4.startsWith('127.');
  return isIPv6(address) && (address === '::1' || /^0*:0*:0*:0*:0*:0*:0*:0*1$/.test(address));
}
