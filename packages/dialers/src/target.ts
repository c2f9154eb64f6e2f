import { isIP } from 'node:net';
import { isDnsSafeHostname } from '@pgw/domain';
import { DialError } from './dial-error.js';
import type { DialTarget } from './types.js';

/** Throws DialError('invalid_request') naming what is wrong with the target. */
export function checkTarget(target: DialTarget): void {
  const { host, port } = target;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DialError('invalid_request', `target port ${String(port)} is not an integer between 1 and 65535`);
  }
  if (typeof host !== 'string' || host.length === 0) {
    throw new DialError('invalid_request', 'target host is empty');
  }
  if (host.includes('%')) {
    throw new DialError('invalid_request', `target host ${JSON.stringify(host.slice(0, 64))} has an IPv6 zone, which means nothing to a proxy`);
  }
  // Hostnames go to the proxy verbatim: only DNS-safe ones pass (@pgw/domain hostname.ts).
  if (isIP(host) === 0 && !isDnsSafeHostname(host)) {
    throw new DialError('invalid_request', `target host ${JSON.stringify(host.slice(0, 64))} is not an IP address or hostname`);
  }
}

/** host:port with IPv6 literals in brackets, as HTTP and logs want it. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
