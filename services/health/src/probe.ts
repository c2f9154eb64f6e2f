import { request } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect } from 'node:tls';
import { endpointLabel, type ProxyEndpoint, type ProxyHandshake } from '@pgw/domain';
import { DialError, type DialFailureReason, type Dialer, type ProxyAddressCheck } from '@pgw/dialers';
import { MAX_ECHO_BODY_BYTES, parseEchoBody } from './echo-response.js';
import { dialAndLearn, type HandshakePlan } from './handshake-learning.js';

/** Bounded label values for pgw_health_probes_total{result}. */
export type ProbeResultLabel = 'ok' | DialFailureReason | 'timeout' | 'tls_error' | 'http_status' | 'bad_answer' | 'request_failed';

export type ProbeOutcome =
  | {
      readonly ok: true;
      readonly result: 'ok';
      readonly latencyMs: number;
      readonly exitIp: string;
      /** The address the probe dialed the proxy at (its host, resolved if a name): the `proxy_address` alarm compares the exit with it. */
      readonly proxyAddress: string | null;
      /** The SOCKS5 handshake this probe learned (mode auto), else null. */
      readonly handshakeLearned: ProxyHandshake | null;
    }
  | {
      readonly ok: false;
      readonly result: Exclude<ProbeResultLabel, 'ok'>;
      readonly error: string;
      /** False when the proxy itself could not be connected to (see target-suspicion.ts). */
      readonly reachedProxy: boolean;
    };

export interface CheckTarget {
  readonly url: URL;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** Shown in errors: the URL without credentials or query. */
  readonly label: string;
}

/** settings.checkUrl as a dial target (validated http(s) URL by the settings schema). */
export function checkTargetFromUrl(checkUrl: string): CheckTarget {
  const url = new URL(checkUrl);
  const tls = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  return { url, host, port, tls, label: `${url.protocol}//${url.host}${url.pathname}` };
}

export interface ProbeOptions {
  /** Everything, dial included, fits in this. */
  readonly timeoutMs: number;
  /** The CAs an https check URL's certificate must chain to (verified, and its name or address checked). */
  readonly trustedCa: readonly string[];
  /** The proxy's handshake setting and what was learned; default: auto, nothing learned. */
  readonly handshake?: HandshakePlan;
  /** Refuses a proxy address before anything is sent to it (DialOptions.checkProxyAddress). */
  readonly checkProxyAddress: ProxyAddressCheck;
}

const NOTHING_LEARNED: HandshakePlan = { mode: 'auto', learned: null };

const PROXY_UNREACHED: ReadonlySet<DialFailureReason> = new Set(['connect_refused', 'connect_failed', 'proxy_forbidden']);

/**
 * Layer 7 through the proxy: dial the check URL's host with the shared dialer, speak HTTP (over
 * TLS for https) on that tunnel and read the exit IP from the same answer. A TCP ping would say
 * "up" for a proxy that no longer proxies. Everything, dial included, fits in `timeoutMs`;
 * latencyMs is the whole probe (dial, handshake, request, answer).
 */
export async function probeThroughProxy(dialer: Dialer, proxy: ProxyEndpoint, target: CheckTarget, { timeoutMs, trustedCa, handshake = NOTHING_LEARNED, checkProxyAddress }: ProbeOptions): Promise<ProbeOutcome> {
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let socket: Socket | undefined;
  try {
    const dialed = await dialAndLearn(dialer, proxy, { host: target.host, port: target.port }, { timeoutMs, signal: controller.signal, keepAlive: false, checkProxyAddress }, handshake);
    socket = dialed.socket;
    // Read before TLS wraps the tunnel: the TCP peer is the proxy itself.
    const proxyAddress = unmappedAddress(socket.remoteAddress);
    if (target.tls) socket = await startTls(socket, target, trustedCa, controller.signal);
    const body = await fetchBody(socket, target, controller.signal);
    if (body.status < 200 || body.status > 299) throw new AnswerError('http_status', `check URL answered HTTP ${body.status}`);
    const exitIp = parseAnswer(body.text);
    return { ok: true, result: 'ok', latencyMs: Math.max(1, Math.round(performance.now() - started)), exitIp, proxyAddress, handshakeLearned: dialed.learned };
  } catch (error) {
    return failure(error, proxy, target, timeoutMs, controller.signal.aborted);
  } finally {
    clearTimeout(timer);
    socket?.destroy();
  }
}

/** An IPv4 peer of a dual-stack socket reads as ::ffff:a.b.c.d; the check URL echoes a.b.c.d. */
function unmappedAddress(address: string | undefined): string | null {
  if (address === undefined) return null;
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

class AnswerError extends Error {
  constructor(
    readonly result: 'http_status' | 'bad_answer' | 'tls_error' | 'request_failed',
    message: string,
  ) {
    super(message);
  }
}

function failure(error: unknown, proxy: ProxyEndpoint, target: CheckTarget, timeoutMs: number, timedOut: boolean): ProbeOutcome {
  if (error instanceof DialError) {
    if (error.reason === 'aborted' || (timedOut && error.reason === 'connect_timeout')) {
      return { ok: false, result: 'timeout', reachedProxy: true, error: `${endpointLabel(proxy)}: no tunnel to ${target.host}:${target.port} within ${timeoutMs} ms` };
    }
    return { ok: false, result: error.reason, reachedProxy: !PROXY_UNREACHED.has(error.reason), error: error.message };
  }
  const where = `${endpointLabel(proxy)} -> ${target.label}`;
  if (timedOut) return { ok: false, result: 'timeout', reachedProxy: true, error: `${where}: no complete answer within ${timeoutMs} ms` };
  if (error instanceof AnswerError) return { ok: false, result: error.result, reachedProxy: true, error: `${where}: ${error.message}` };
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, result: 'bad_answer', reachedProxy: true, error: `${where}: ${message}` };
}

function parseAnswer(text: string): string {
  try {
    return parseEchoBody(text);
  } catch (error) {
    throw new AnswerError('bad_answer', (error as Error).message);
  }
}

/** OpenSSL's verdicts on the certificate chain and Node's name check: the operator can act on these. */
const CERTIFICATE_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

function startTls(socket: Socket, target: CheckTarget, trustedCa: readonly string[], signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // SNI carries hostnames only, never address literals (RFC 6066). `host` is what the
    // certificate is checked against: without it an address target would be checked as "localhost".
    const servername = isIP(target.host) === 0 ? target.host : undefined;
    const secure = tlsConnect({ socket, host: target.host, servername, ca: [...trustedCa], rejectUnauthorized: true, ALPNProtocols: ['http/1.1'] });
    const onAbort = () => secure.destroy(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    secure.once('secureConnect', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(secure);
    });
    secure.once('error', (error: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort);
      if (CERTIFICATE_ERRORS.test(error.code ?? '')) {
        reject(new AnswerError('tls_error', `check URL certificate not trusted: ${error.message} (a private CA can be trusted with PGW_HEALTH_CA_FILE)`));
        return;
      }
      reject(new AnswerError('tls_error', `TLS with the check URL failed: ${error.message}`));
    });
  });
}

function fetchBody(socket: Socket, target: CheckTarget, signal: AbortSignal): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: 'GET',
        host: target.host,
        port: target.port,
        path: `${target.url.pathname}${target.url.search}`,
        headers: { host: target.url.host, accept: 'application/json, text/plain', 'user-agent': 'pgw-health', connection: 'close' },
        createConnection: () => socket,
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > MAX_ECHO_BODY_BYTES) {
            res.destroy();
            reject(new AnswerError('bad_answer', `check URL answer is longer than ${MAX_ECHO_BODY_BYTES} bytes, not an IP echo`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (error) => reject(new AnswerError('request_failed', `answer broke off: ${error.message}`)));
      },
    );
    req.on('error', (error) => reject(new AnswerError('request_failed', `HTTP request through the proxy failed: ${error.message}`)));
    req.end();
  });
}
