// HTTP CONNECT (RFC 9110 section 9.3.6) with Basic proxy auth: request bytes and response
// parsing, pure. Hand-rolled for the same reason as SOCKS5: the forwarder's hot path wants one
// write, no per-request header objects, and exact control over bytes that follow the head.
import { DialError } from './dial-error.js';
import { formatHostPort } from './target.js';
import type { DialTarget } from './types.js';
import { shownText } from './shown-text.js';

/** A response head larger than this is not a CONNECT answer we accept. */
export const MAX_RESPONSE_HEAD = 8192;

/** Context for parseConnectResponse: whether credentials were sent (words the 407 error). */
export const HTTP_WITHOUT_CREDENTIALS = 0;
export const HTTP_WITH_CREDENTIALS = 1;
export type HttpCredentialsFlag = typeof HTTP_WITHOUT_CREDENTIALS | typeof HTTP_WITH_CREDENTIALS;

const CR = 0x0d;
const LF = 0x0a;
const HTTP_1 = Buffer.from('HTTP/1.', 'latin1');
const STATUS_LINE_SHOWN = 120;

/** The Proxy-Authorization header line (with CRLF), or '' without credentials. Constant per proxy. */
export function proxyAuthorizationLine(username: string | undefined, password: string | undefined): string {
  if (username === undefined) return '';
  // RFC 7617: the user-id cannot contain a colon, the first colon separates it from the password.
  if (username.includes(':')) throw new DialError('invalid_request', 'HTTP proxy username must not contain ":"');
  const token = Buffer.from(`${username}:${password ?? ''}`, 'utf8').toString('base64');
  return `Proxy-Authorization: Basic ${token}\r\n`;
}

/** The whole request head. The target must have passed checkTarget (no CR/LF/space possible). */
export function connectRequest(authorizationLine: string, target: DialTarget): Buffer {
  const authority = formatHostPort(target.host, target.port);
  return Buffer.from(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${authorizationLine}\r\n`, 'latin1');
}

function statusLine(response: Buffer, lineEnd: number): string {
  // Shown in errors and logs: printable ASCII only, bounded.
  const end = response[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
  return shownText(response.toString('latin1', 0, Math.min(end, STATUS_LINE_SHOWN)), STATUS_LINE_SHOWN);
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

/**
 * Parses the proxy's response head as received so far. Returns 0 while incomplete, else the
 * length of the head including its blank line (anything after it is the target's data). Throws
 * DialError: non-2xx as soon as the status line is complete, oversize or malformed heads.
 */
export function parseConnectResponse(response: Buffer, credentials: HttpCredentialsFlag, seen = 0): number {
  const lineEnd = response.indexOf(LF);
  if (lineEnd === -1) {
    if (response.length >= MAX_RESPONSE_HEAD) throw oversize();
    return 0;
  }
  // "HTTP/1.x SSS" at least; the reason phrase is optional.
  if (
    lineEnd < 12 ||
    response.compare(HTTP_1, 0, HTTP_1.length, 0, HTTP_1.length) !== 0 ||
    !isDigit(response[7]) ||
    response[8] !== 0x20 ||
    !isDigit(response[9]) ||
    !isDigit(response[10]) ||
    !isDigit(response[11]) ||
    (lineEnd > 12 && response[12] !== 0x20 && response[12] !== CR)
  ) {
    throw new DialError('protocol_error', `not an HTTP/1.x status line: "${statusLine(response, lineEnd)}"`);
  }
  const status = (response[9]! - 0x30) * 100 + (response[10]! - 0x30) * 10 + (response[11]! - 0x30);
  // 407 is the standard answer; tinyproxy (and others) send 401 for wrong credentials.
  if (status === 407 || status === 401) {
    throw new DialError(
      'auth_failed',
      credentials === HTTP_WITH_CREDENTIALS
        ? `proxy rejected the credentials: "${statusLine(response, lineEnd)}"`
        : `proxy requires authentication but no credentials are configured: "${statusLine(response, lineEnd)}"`,
      { step: 'auth' },
    );
  }
  if (status < 200 || status > 299) {
    // A proxy that answers is alive: 403 is its rules refusing this target (squid's CONNECT to a
    // port not in SSL_ports, tinyproxy's ConnectPort), a 5xx its failure to reach it (502-504,
    // tinyproxy's "500 Unable to connect"). Neither says the proxy fails, which a client could
    // otherwise claim at will by asking for such targets (forwarder: upstream-failures.ts).
    const reason = status === 403 ? 'target_refused' : status >= 500 ? 'target_unreachable' : 'proxy_refused';
    throw new DialError(reason, `proxy refused the CONNECT: "${statusLine(response, lineEnd)}"`);
  }
  const length = headLength(response, lineEnd, seen);
  if (length === 0) {
    if (response.length >= MAX_RESPONSE_HEAD) throw oversize();
    return 0;
  }
  if (length > MAX_RESPONSE_HEAD) throw oversize();
  return length;
}

/**
 * The head's length up to and including its empty line, 0 while there is none yet. Lines end with
 * CRLF or a bare LF (RFC 9112 section 2.2 lets a recipient take one; small proxies send them):
 * the head ends at the first LF followed by LF, or by CR LF. `lineEnd`: the status line's LF.
 * `seen`: bytes already found without that end, so it ends at `seen` or later: its LF is at
 * `seen - 2` at the earliest, and the scan starts there (linear over a dribbled head, not quadratic).
 */
function headLength(response: Buffer, lineEnd: number, seen: number): number {
  for (let lf = seen - 2 > lineEnd ? response.indexOf(LF, seen - 2) : lineEnd; lf !== -1; lf = response.indexOf(LF, lf + 1)) {
    if (response[lf + 1] === LF) return lf + 2;
    if (response[lf + 1] === CR && response[lf + 2] === LF) return lf + 3;
  }
  return 0;
}

function oversize(): DialError {
  return new DialError('protocol_error', `proxy response head exceeds ${MAX_RESPONSE_HEAD} bytes without ending`);
}
