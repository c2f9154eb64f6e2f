// SOCKS5 (RFC 1928) with username/password (RFC 1929): request bytes and reply parsing, pure.
//
// Hand-rolled rather than the `socks` npm library on purpose: that library waits for each reply
// before sending the next message (greeting, then auth, then CONNECT: up to 3 round trips to a
// remote proxy), and this is the forwarder's hot path. Here the messages can leave in one write
// (pipelined) or one at a time (sequential, for servers that drop pipelined bytes), and each
// answer is parsed by its own step parser as it arrives.
import { isIP } from 'node:net';
import { DialError, type DialFailureReason } from './dial-error.js';
import { writeIpv4, writeIpv6 } from './ip-bytes.js';
import type { DialTarget } from './types.js';

const VERSION = 0x05;
const AUTH_VERSION = 0x01;
const CMD_CONNECT = 0x01;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;
const METHOD_UNACCEPTABLE = 0xff;

/** The one method a greeting offers (none without credentials, username/password with). */
export const SOCKS5_METHOD_NONE = 0x00;
export const SOCKS5_METHOD_USERPASS = 0x02;
export type Socks5Method = typeof SOCKS5_METHOD_NONE | typeof SOCKS5_METHOD_USERPASS;

/** The greeting offering one method. Constant per proxy, so callers cache it. */
export function socks5Greeting(method: Socks5Method): Buffer {
  return Buffer.from([VERSION, 1, method]);
}

/** The RFC 1929 sub-negotiation. Constant per proxy, so callers cache it. */
export function socks5Auth(username: string, password: string | undefined): Buffer {
  const user = Buffer.from(username, 'utf8');
  const pass = Buffer.from(password ?? '', 'utf8');
  if (user.length < 1 || user.length > 255) {
    throw new DialError('invalid_request', `SOCKS5 username must be 1-255 bytes (is ${user.length})`);
  }
  if (pass.length > 255) throw new DialError('invalid_request', `SOCKS5 password must be at most 255 bytes (is ${pass.length})`);
  return Buffer.concat([Buffer.from([AUTH_VERSION, user.length]), user, Buffer.from([pass.length]), pass]);
}

/**
 * Greeting, plus the RFC 1929 sub-negotiation when credentials are given: what a pipelined dial
 * sends before its CONNECT. Only one method is offered: with pipelining, a server free to pick
 * "no auth" would read our auth bytes as the CONNECT request. Constant per proxy.
 */
export function socks5Preamble(username: string | undefined, password: string | undefined): Buffer {
  if (username === undefined) return socks5Greeting(SOCKS5_METHOD_NONE);
  return Buffer.concat([socks5Greeting(SOCKS5_METHOD_USERPASS), socks5Auth(username, password)]);
}

/** preamble + CONNECT request in one buffer. The target must have passed checkTarget (ASCII host). */
export function socks5Request(preamble: Buffer, target: DialTarget): Buffer {
  const family = isIP(target.host);
  if (family === 0 && target.host.length > 255) {
    throw new DialError('invalid_request', 'SOCKS5 target hostname is longer than 255 bytes');
  }
  const addressLength = family === 4 ? 4 : family === 6 ? 16 : 1 + target.host.length;
  const out = Buffer.allocUnsafe(preamble.length + 4 + addressLength + 2);
  preamble.copy(out, 0);
  let at = preamble.length;
  out[at++] = VERSION;
  out[at++] = CMD_CONNECT;
  out[at++] = 0x00;
  if (family === 4) {
    out[at++] = ATYP_IPV4;
    writeIpv4(target.host, out, at);
  } else if (family === 6) {
    out[at++] = ATYP_IPV6;
    writeIpv6(target.host, out, at);
  } else {
    out[at++] = ATYP_DOMAIN;
    out[at] = target.host.length;
    out.write(target.host, at + 1, 'latin1');
  }
  out.writeUInt16BE(target.port, at + addressLength);
  return out;
}

const REPLIES: ReadonlyArray<readonly [DialFailureReason, string]> = [
  ['proxy_refused', 'succeeded'], // 0 is success and never looked up
  ['proxy_refused', 'general SOCKS server failure'],
  ['target_refused', 'connection not allowed by ruleset'],
  ['target_unreachable', 'network unreachable'],
  ['target_unreachable', 'host unreachable'],
  ['target_unreachable', 'connection refused by destination'],
  ['target_unreachable', 'TTL expired'],
  ['proxy_refused', 'command not supported'],
  ['proxy_refused', 'address type not supported'],
];

function replyError(code: number): DialError {
  const known = REPLIES[code];
  if (known === undefined) return new DialError('protocol_error', `unknown SOCKS5 reply ${code}`);
  return new DialError(known[0], `${known[1]} (SOCKS5 reply ${code})`);
}

function methodError(offered: Socks5Method, chosen: number): DialError {
  if (offered === SOCKS5_METHOD_USERPASS && chosen === METHOD_UNACCEPTABLE) {
    return new DialError('auth_failed', 'proxy does not accept username/password authentication (SOCKS5 method 0xff)');
  }
  if (offered === SOCKS5_METHOD_NONE && (chosen === METHOD_UNACCEPTABLE || chosen === SOCKS5_METHOD_USERPASS)) {
    return new DialError('auth_failed', `proxy requires authentication but no credentials are configured (SOCKS5 method ${chosen})`);
  }
  return new DialError('protocol_error', `proxy chose SOCKS5 method ${chosen}, which was not offered (offered ${offered})`);
}

/** The method selection (2 bytes); throws unless it is the one method offered. */
export function parseMethodSelection(reply: Buffer, offered: Socks5Method): number {
  if (reply.length < 2) return 0;
  if (reply[0] !== VERSION) throw new DialError('protocol_error', `not a SOCKS5 reply (version byte ${reply[0]})`);
  if (reply[1] !== offered) throw methodError(offered, reply[1]!);
  return 2;
}

/** The RFC 1929 status (2 bytes); throws when the credentials were rejected. */
export function parseAuthStatus(reply: Buffer): number {
  if (reply.length < 2) return 0;
  // RFC 1929 says version 1, yet some servers echo 5; like curl, only the status is judged.
  if (reply[1] !== 0) throw new DialError('auth_failed', `proxy rejected the username/password (RFC 1929 status ${reply[1]})`);
  return 2;
}

/**
 * The CONNECT reply: its length once complete (anything after it is the target's data), 0 before.
 * Throws as soon as the deciding byte has arrived (a refusal code, an unknown address type).
 */
export function parseConnectReply(reply: Buffer): number {
  if (reply.length < 2) return 0;
  if (reply[0] !== VERSION) throw new DialError('protocol_error', `not a SOCKS5 CONNECT reply (version byte ${reply[0]})`);
  if (reply[1] !== 0) throw replyError(reply[1]!);
  if (reply.length < 5) return 0;
  const atyp = reply[3];
  const addressLength = atyp === ATYP_IPV4 ? 4 : atyp === ATYP_IPV6 ? 16 : atyp === ATYP_DOMAIN ? 1 + reply[4]! : -1;
  if (addressLength < 0) throw new DialError('protocol_error', `SOCKS5 reply has unknown address type ${atyp}`);
  const end = 4 + addressLength + 2;
  return reply.length < end ? 0 : end;
}
