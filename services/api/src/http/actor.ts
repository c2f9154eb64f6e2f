import type { Request } from 'express';
import type { Actor } from '../repositories/audit.js';

/** Longer User-Agent headers are cut: the audit row keeps enough to tell clients apart, not an attacker's megabyte. */
const USER_AGENT_MAX = 512;

/** The audit identity of a request; req.ip honours PGW_TRUST_PROXY. */
export function actorOf(req: Request): Actor {
  const ip = req.ip?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '') ?? null;
  const userAgent = req.get('user-agent')?.slice(0, USER_AGENT_MAX) ?? null;
  return { userId: req.auth?.userId ?? null, username: req.auth?.username ?? null, sourceIp: ip, userAgent, requestId: req.requestId };
}

export function idParam(req: Request): number {
  return Number(req.params.id);
}
