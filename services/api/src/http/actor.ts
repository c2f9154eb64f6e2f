import type { Request } from 'express';
import type { Actor } from '../repositories/audit.js';

/** The audit identity of a request; req.ip honours PGW_TRUST_PROXY. */
export function actorOf(req: Request): Actor {
  const ip = req.ip?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '') ?? null;
  return { userId: req.auth?.userId ?? null, username: req.auth?.username ?? null, sourceIp: ip, requestId: req.requestId };
}

export function idParam(req: Request): number {
  return Number(req.params.id);
}
