import type { RequestHandler } from 'express';
import { hostOfAuthority, isAllowedHost } from '@pgw/config';
import { ApiError } from './api-error.js';

/**
 * Refuses, before anything else reads the request, a host the api was not given (DNS rebinding:
 * @pgw/config allowed-host.ts). Every host the request names must pass: its Host, each X-Forwarded-Host
 * entry whoever sent it (a rebinding page may add one: judging only the forwarded host, as
 * express's req.hostname does behind a trusted proxy, let it name 127.0.0.1 past an SSH tunnel that
 * arrives from loopback), and the authority of an absolute-form target.
 */
export function hostCheck(names: ReadonlySet<string>): RequestHandler {
  return (req, _res, next) => {
    const hosts = [req.headers.host === undefined ? '' : hostOfAuthority(req.headers.host)];
    const forwarded = req.headers['x-forwarded-host'];
    if (forwarded !== undefined) hosts.push(...[forwarded].flat().flatMap((v) => v.split(',')).map(hostOfAuthority));
    if (!req.url.startsWith('/') && req.url !== '*') hosts.push(absoluteFormHost(req.url));
    const refused = hosts.find((host) => !isAllowedHost(host, names));
    if (refused === undefined) return next();
    const shown = refused.slice(0, 100);
    next(new ApiError(421, 'host_not_allowed', `this api answers to IP addresses, localhost and the names in PGW_API_HOSTNAMES; ${shown ? JSON.stringify(shown) : 'a request without a Host header'} is none of them`));
  };
}

function absoluteFormHost(target: string): string {
  try {
    return hostOfAuthority(new URL(target).host);
  } catch {
    return target;
  }
}
