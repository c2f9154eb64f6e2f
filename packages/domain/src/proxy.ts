import { z } from 'zod';
import type { Port } from './net.js';
import { portSchema } from './net.js';

export const PROXY_PROTOCOLS = ['http', 'socks5'] as const;
export type ProxyProtocol = (typeof PROXY_PROTOCOLS)[number];

export const PROXY_STATUSES = ['unknown', 'up', 'down'] as const;
/** Fail closed: only 'up' lets traffic through; 'unknown' is treated as down everywhere. */
export type ProxyStatus = (typeof PROXY_STATUSES)[number];

/**
 * How a SOCKS5 dial sends its greeting, auth and CONNECT (a proxy setting; HTTP CONNECT is one
 * request either way). `pipelined`: all in one write, one round trip, but RFC 1928 does not promise
 * that it works and some servers drop what follows the greeting. `sequential`: each message after
 * the previous answer, as curl and redsocks do. `early-data`: pipelined, and the client's first
 * bytes (what it sent by then) in the same write, so that a new connection's answer comes one
 * round trip sooner; the proxy must relay bytes that arrive before its reply, which some servers
 * drop. `auto` (default): the health probe learns the most the proxy accepts (handshake_learned)
 * and the forwarder uses that.
 */
export const PROXY_HANDSHAKE_MODES = ['auto', 'pipelined', 'sequential', 'early-data'] as const;
export type ProxyHandshakeMode = (typeof PROXY_HANDSHAKE_MODES)[number];
/** A handshake a dial can use: a mode other than auto, or what auto learned. */
export type ProxyHandshake = Exclude<ProxyHandshakeMode, 'auto'>;

/**
 * The handshake a dial uses: the forced mode, or what auto learned; sequential until learned,
 * because it works with every server while pipelining may not.
 */
export function handshakeToUse(mode: ProxyHandshakeMode, learned: ProxyHandshake | null): ProxyHandshake {
  return mode === 'auto' ? (learned ?? 'sequential') : mode;
}

/**
 * Whether a proxy carries a client's UDP (issue 15), as the health probe learned it: `supported`
 * (SOCKS5, UDP ASSOCIATE answered), `unsupported` (SOCKS5 refusing the command, or HTTP CONNECT,
 * which has no UDP). Unknown (null) until learned.
 */
export const PROXY_UDP_SUPPORT = ['supported', 'unsupported'] as const;
export type ProxyUdpSupport = (typeof PROXY_UDP_SUPPORT)[number];

/** Everything needed to dial through an upstream proxy. Credentials are plaintext in memory only. */
export interface ProxyEndpoint {
  readonly protocol: ProxyProtocol;
  readonly host: string;
  readonly port: Port;
  readonly username?: string;
  readonly password?: string;
}

/** A hostname (RFC 1123 labels) or an IPv4 literal; no spaces, quotes or shell/nft syntax. */
const HOST = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
export const proxyHostSchema = z.string().regex(HOST, 'must be a hostname or IPv4 address');

export const proxyEndpointSchema = z.object({
  protocol: z.enum(PROXY_PROTOCOLS),
  host: proxyHostSchema,
  port: portSchema,
  username: z.string().min(1).max(255).optional(),
  password: z.string().max(255).optional(),
});

/**
 * Why `protocol` cannot carry these credentials, naming the field, or null. What the dialers would
 * refuse at every dial, refused when a proxy is saved: HTTP Basic joins user and password with
 * ":", and SOCKS5 (RFC 1929) gives each one byte of length.
 */
/**
 * What is wrong with a proxy name, or null: a space at either end (a CSV import finds proxies by
 * their trimmed name, so "office " beside "office" moved a re-imported client to the other) or a
 * control character (one name shown as two lines in the console and the logs).
 */
export function proxyNameProblem(name: string): string | null {
  if (name.trim() !== name) return 'name must not start or end with a space';
  if (/[\x00-\x1f\x7f]/.test(name)) return 'name must not contain a control character (a line break, a tab)';
  return null;
}

export function credentialProblem(protocol: ProxyProtocol, username: string | null | undefined, password: string | null | undefined): { field: 'username' | 'password'; message: string } | null {
  if (protocol === 'http' && username?.includes(':')) return { field: 'username', message: 'username: an HTTP proxy user name cannot contain ":" (Basic authentication joins it to the password with one)' };
  if (protocol === 'socks5') {
    for (const [field, value] of [['username', username], ['password', password]] as const) {
      const bytes = value == null ? 0 : Buffer.byteLength(value, 'utf8');
      if (bytes > 255) return { field, message: `${field}: a SOCKS5 ${field} is at most 255 bytes in UTF-8 (this one is ${bytes})` };
    }
  }
  return null;
}

/**
 * Parses `socks5://user:pass@host:port` or `http://host:port`. Throws an Error whose message
 * names what is wrong, for API and CLI input.
 */
export function parseProxyUrl(input: string): ProxyEndpoint {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new Error(`proxy URL "${redactUrl(input)}" is not a URL (expected http://host:port or socks5://host:port)`);
  }
  const protocol = url.protocol.replace(/:$/, '');
  if (!(PROXY_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new Error(`proxy URL scheme "${protocol}" is not supported (use http or socks5)`);
  }
  if (url.pathname !== '' && url.pathname !== '/') throw new Error('proxy URL must not have a path');
  if (url.port === '') throw new Error('proxy URL must name a port (1-65535)');
  // As the separate fields: a password alone would be stored and never sent (no dial authenticates without a user).
  if (url.password !== '' && url.username === '') throw new Error('proxy URL: a password needs a username (socks5://user:pass@host:port)');
  const result = proxyEndpointSchema.safeParse({
    protocol,
    host: url.hostname,
    port: Number(url.port),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
  });
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`proxy URL ${issue.path.join('.')}: ${issue.message}`);
  }
  return result.data;
}

/**
 * For logs and errors: never print a password. Everything between the scheme (with whatever slashes
 * follow it: a URL parser takes `http:u:p@h`, `http:/u:p@h` and `http:\\u:p@h` as well) and the last
 * "@" is the user part, as a URL parser reads it: a password holding "/", "?", "#" or "@" makes the
 * URL unparsable, and that is when this text is shown. The user name stays where it has none of those.
 */
export function redactUrl(input: string): string {
  const at = input.lastIndexOf('@');
  if (at === -1) return input;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:[/\\]*/.exec(input.slice(0, at))?.[0] ?? '';
  const userinfo = input.slice(scheme.length, at);
  const colon = userinfo.indexOf(':');
  const user = colon === -1 ? null : userinfo.slice(0, colon);
  return `${scheme}${user === null || /[/?#@\\]/.test(user) ? '***' : `${user}:***`}${input.slice(at)}`;
}

export function endpointLabel(endpoint: ProxyEndpoint): string {
  return `${endpoint.protocol}://${endpoint.host}:${endpoint.port}`;
}

/** What started a check of a proxy (the proxy_checks.trigger column, the probe jobs' data). */
export const PROBE_TRIGGERS = ['periodic', 'on_demand', 'upstream_failure', 'liveness'] as const;
export type ProbeTrigger = (typeof PROBE_TRIGGERS)[number];
