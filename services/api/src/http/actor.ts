import { isIP } from 'node:net';
import type { Request } from 'express';
import type { Actor } from '../repositories/audit.js';

/** Longer User-Agent headers are cut: the audit row keeps enough to tell clients apart, not an attacker's megabyte. */
const USER_AGENT_MAX = 512;

/**
 * The client's address: req.ip, which honours PGW_TRUST_PROXY, when it is an address. Behind a
 * trusted proxy it is the last X-Forwarded-For entry, which a proxy passing a client's header on
 * (instead of appending the address it saw) leaves to the client: anything else is not taken, the
 * peer is (the proxy). Else the audit row (source_ip inet) could not be written and the login
 * throttle counted whatever the client wrote.
 */
export function clientIp(req: Request): string | null {
  const forwarded = req.ip !== undefined && isIP(req.ip) !== 0 ? req.ip : req.socket.remoteAddress;
  return forwarded?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '') ?? null;
}

/** The audit identity of a request. */
export function actorOf(req: Request): Actor {
  const ip = clientIp(req);
  const userAgent = req.get('user-agent')?.slice(0, USER_AGENT_MAX) ?? null;
  return { userId: req.auth?.userId ?? null, username: req.auth?.username ?? null, sourceIp: ip, userAgent, requestId: req.requestId, tokenVersion: req.auth?.tokenVersion ?? null };
}

export function idParam(req: Request): number {
  return Number(req.params.id);
}
