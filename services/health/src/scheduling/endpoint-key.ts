import { createHash } from 'node:crypto';
import type { EndpointColumns } from '../repositories/proxies.js';

/**
 * A short digest of what a probe dials and how: protocol, address, credentials and the SOCKS5
 * handshake mode. It tells the scheduler
 * that a proxy was edited, and it is part of a periodic probe's job id in Redis, where the sealed
 * password itself has no business.
 */
export function endpointKey(proxy: EndpointColumns): string {
  const fields = [proxy.protocol, proxy.host, String(proxy.port), proxy.username, proxy.passwordEnc, proxy.handshakeMode];
  // Each field's length first (null apart): no two different endpoints join to the same text.
  const text = fields.map((f) => (f === null ? '-' : `${f.length}:${f}`)).join('');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
