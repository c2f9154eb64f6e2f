import type { RequestHandler } from 'express';
import { isAllowedHost } from '../logic/allowed-host.js';
import { ApiError } from './api-error.js';

/**
 * Refuses, before anything else reads the request, a Host the api was not given (DNS rebinding:
 * logic/allowed-host.ts). req.hostname is the forwarded host behind a trusted proxy (PGW_TRUST_PROXY),
 * which is then the name to judge.
 */
export function hostCheck(names: ReadonlySet<string>): RequestHandler {
  return (req, _res, next) => {
    if (isAllowedHost(req.hostname, names)) return next();
    const shown = (req.hostname ?? '').slice(0, 100);
    next(new ApiError(421, 'host_not_allowed', `this api answers to IP addresses, localhost and the names in PGW_API_HOSTNAMES; ${shown ? JSON.stringify(shown) : 'a request without a Host header'} is none of them`));
  };
}
