import { request } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { dialedHost, endpointLabel, type ProxyEndpoint, type ProxyHandshake, type ProxyHandshakeMode } from '@pgw/domain';
import { DialError, type DialFailureReason, type DialOptions, type Dialer, type DialStep, type ProxyAddressCheck } from '@pgw/dialers';
import { MAX_ECHO_BODY_BYTES, parseEchoBody } from './echo-response.js';
import { FirstFlightSocket } from './first-flight.js';
import { dialAndLearn, type HandshakePlan, learnedAfterEarlyData, pipelineGraceMs } from '../learning/handshake-learning.js';

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
  const host = dialedHost(url);
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
  const dialTarget = { host: target.host, port: target.port };
  const options = { timeoutMs, signal: controller.signal, keepAlive: false, checkProxyAddress };
  let socket: Duplex | undefined;
  try {
    let plan = handshake;
    let early: EarlyDataProbe | null = null;
    if (triesEarlyData(proxy, plan)) {
      early = await probeWithEarlyData(dialer, proxy, target, options, plan, trustedCa);
      if (early.outcome !== null) return { ...early.outcome, latencyMs: elapsedMs(started) };
      // Not taken: learned again without early data (pipelined, else sequential), in the time left.
      plan = { mode: 'auto', learned: 'pipelined' };
      options.timeoutMs = Math.max(1, Math.floor(timeoutMs - (performance.now() - started)));
    }
    const dialed = await dialAndLearn(dialer, proxy, dialTarget, options, plan);
    const tunnelAt = performance.now();
    socket = dialed.socket;
    // Read before TLS wraps the tunnel: the TCP peer is the proxy itself.
    const proxyAddress = unmappedAddress(dialed.socket.remoteAddress);
    // After a silent early-data try: this tunnel's first byte is what that silence is judged by.
    const firstByteAt = early?.silent ? timeFirstByte(dialed.socket) : null;
    if (firstByteAt !== null) socket = firstByteAt.socket;
    if (target.tls) socket = await startTls(socket, target, trustedCa, controller.signal);
    const exitIp = await exitIpFrom(socket, target, controller.signal);
    // The answer came, so its first byte did: `at` is settled.
    const firstByteMs = firstByteAt === null ? 0 : (await firstByteAt.at) - tunnelAt;
    const learned = early === null ? dialed.learned : learnedAfterEarlyData(handshake.learned, early.silent, dialed.learned, firstByteMs, pipelineGraceMs(timeoutMs));
    return { ok: true, result: 'ok', latencyMs: elapsedMs(started), exitIp, proxyAddress, handshakeLearned: learned };
  } catch (error) {
    return failure(error, proxy, target, timeoutMs, controller.signal.aborted, proxy.protocol === 'socks5' && handshake.mode !== 'auto' ? handshake.mode : null);
  } finally {
    clearTimeout(timer);
    socket?.destroy();
  }
}

function elapsedMs(started: number): number {
  return Math.max(1, Math.round(performance.now() - started));
}

/** The check URL's answer read from a tunnel (TLS already on it for https): the exit IP. */
async function exitIpFrom(socket: Duplex, target: CheckTarget, signal: AbortSignal): Promise<string> {
  const body = await fetchBody(socket, target, signal);
  if (body.status < 200 || body.status > 299) throw new AnswerError('http_status', `check URL answered HTTP ${body.status}`);
  return parseAnswer(body.text);
}

/**
 * SOCKS5 with early data forced, or in mode auto unless already learned without it (pipelined or
 * sequential stay as learned until the endpoint, credentials or mode change, as sequential does).
 */
function triesEarlyData(proxy: ProxyEndpoint, plan: HandshakePlan): boolean {
  if (proxy.protocol !== 'socks5') return false;
  return plan.mode === 'early-data' || (plan.mode === 'auto' && (plan.learned === null || plan.learned === 'early-data'));
}

interface EarlyDataProbe {
  /** The probe's outcome; null when the proxy did not take the early data (mode auto only). */
  readonly outcome: Omit<Extract<ProbeOutcome, { ok: true }>, 'latencyMs'> | null;
  /** With outcome null: the tunnel came up and stayed silent for the grace (rather than failing). */
  readonly silent: boolean;
}

/** A failure of the early-data try that may be the early bytes' doing: the proxy's reply step, or pipelining itself. */
function earlyDataSuspect(error: unknown): boolean {
  return error instanceof DialError && (error.reason === 'pipelining_unanswered' || (error.reason !== 'aborted' && error.step === 'reply'));
}

/**
 * The probe as the forwarder dials with early data: the check request (for https, the TLS
 * ClientHello) written with the pipelined CONNECT. In mode auto the early data is not taken when
 * the tunnel brings nothing within the pipelining grace, when the proxy fails at its reply (or
 * leaves the pipelined handshake unanswered), or when the answer through the tunnel is not the
 * check URL's: the probe then learns without it. A failure before the reply (connect, greeting,
 * auth) or the probe's deadline is the probe's outcome.
 */
async function probeWithEarlyData(dialer: Dialer, proxy: ProxyEndpoint, target: CheckTarget, options: DialOptions & { signal: AbortSignal }, plan: HandshakePlan, trustedCa: readonly string[]): Promise<EarlyDataProbe> {
  const learning = plan.mode === 'auto';
  const grace = pipelineGraceMs(options.timeoutMs);
  const stand = new FirstFlightSocket();
  // The probe's deadline ends the wait for the first flight too.
  const onAbort = () => stand.destroy(new Error('aborted'));
  options.signal.addEventListener('abort', onAbort, { once: true });
  const client = target.tls ? startTls(stand, target, trustedCa, options.signal) : Promise.resolve(stand);
  const exitIp = client.then((socket) => exitIpFrom(socket, target, options.signal));
  // Until it is known whether this answer counts, a rejection is handled here.
  exitIp.catch(ignore);
  try {
    const earlyData = await stand.firstFlight;
    let tunnel: Socket;
    try {
      // The grace only where there is a fall-back (auto): forced, it ended a CONNECT reply that waits for a slow target.
      tunnel = await dialer.dial(proxy, { host: target.host, port: target.port }, { ...options, handshake: 'pipelined', ...(learning ? { pipelineGraceMs: grace } : {}), earlyData });
    } catch (error) {
      if (learning && earlyDataSuspect(error)) return { outcome: null, silent: false };
      throw error;
    }
    const proxyAddress = unmappedAddress(tunnel.remoteAddress);
    stand.attach(tunnel);
    if (learning && !(await answeredWithin(stand, grace))) return { outcome: null, silent: true };
    let answer: string;
    try {
      answer = await exitIp;
    } catch (error) {
      if (learning && !options.signal.aborted) return { outcome: null, silent: false };
      throw error;
    }
    return { outcome: { ok: true, result: 'ok', exitIp: answer, proxyAddress, handshakeLearned: learning ? 'early-data' : null }, silent: false };
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    stand.destroy();
    void client.then((socket) => socket.destroy(), ignore);
  }
}

/** The tunnel behind a stand-in that notes when its first byte arrives (performance.now()). */
function timeFirstByte(tunnel: Socket): { socket: FirstFlightSocket; at: Promise<number> } {
  const socket = new FirstFlightSocket();
  socket.attach(tunnel);
  return { socket, at: socket.answered.then(() => performance.now()) };
}

function answeredWithin(stand: FirstFlightSocket, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
  return Promise.race([stand.answered.then(() => true), expired]).finally(() => clearTimeout(timer));
}

function ignore(): void {}

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

/** What the proxy had yet to send at each step of its handshake. */
const STEP_ANSWER: Readonly<Record<Exclude<DialStep, 'connect'>, string>> = { greeting: 'greeting answer (method selection)', auth: 'auth status', reply: 'CONNECT reply' };

/**
 * `forced`: the SOCKS5 handshake mode when set by hand (not auto), whose failures can be the mode's
 * doing: a hint to the setting goes with them.
 */
function failure(error: unknown, proxy: ProxyEndpoint, target: CheckTarget, timeoutMs: number, timedOut: boolean, forced: ProxyHandshakeMode | null): ProbeOutcome {
  if (error instanceof DialError) {
    if (error.reason === 'aborted' || (timedOut && error.reason === 'connect_timeout')) {
      // The probe's time ran out (its own timer, or the dial's over the time left): said with the
      // probe's timeout, at the step the dial had reached. No TCP connection: the proxy was not
      // reached (a blackholed proxy is not the check target's fault).
      if (error.step === 'connect') return { ok: false, result: 'timeout', reachedProxy: false, error: `${endpointLabel(proxy)}: no TCP connection to the proxy within ${timeoutMs} ms` };
      const at = error.step === undefined ? '' : ` (waiting for the proxy's ${STEP_ANSWER[error.step]})`;
      // Forced pipelining has no grace (nothing to fall back to): a proxy that drops what follows
      // its greeting is told from a slow one only by the timeout.
      const hint = (forced === 'pipelined' || forced === 'early-data') && (error.step === 'auth' || error.step === 'reply') ? `; handshake ${forced}: a proxy that drops what is pipelined after its greeting never answers (set the handshake to auto or sequential)` : '';
      return { ok: false, result: 'timeout', reachedProxy: true, error: `${endpointLabel(proxy)}: no tunnel to ${target.host}:${target.port} within ${timeoutMs} ms${at}${hint}` };
    }
    return { ok: false, result: error.reason, reachedProxy: !PROXY_UNREACHED.has(error.reason), error: error.message };
  }
  const where = `${endpointLabel(proxy)} -> ${target.label}`;
  if (timedOut) {
    // The tunnel came up but nothing came back: with early data forced, the proxy may have dropped the request.
    const hint = forced === 'early-data' ? ' (handshake early-data: a proxy that drops bytes sent before its CONNECT reply never answers; set the handshake to auto or pipelined)' : '';
    return { ok: false, result: 'timeout', reachedProxy: true, error: `${where}: no complete answer within ${timeoutMs} ms${hint}` };
  }
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

function startTls(socket: Duplex, target: CheckTarget, trustedCa: readonly string[], signal: AbortSignal): Promise<Duplex> {
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

function fetchBody(socket: Duplex, target: CheckTarget, signal: AbortSignal): Promise<{ status: number; text: string }> {
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
