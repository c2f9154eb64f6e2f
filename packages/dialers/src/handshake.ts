// Connects to a proxy and runs its handshake as a list of exchanges (request bytes, then a pure
// parser for the answer), fed as the answers arrive. Pipelined: every request leaves in the
// first write and the answers are parsed in turn (one round trip). Sequential: each request
// leaves once the previous answer is complete. Per dial this allocates the socket, one Handshake
// and the promise; the event handlers are module-level functions that find their Handshake
// through a symbol on the socket, the timers get it as an argument and the abort signal calls its
// handleEvent, so no closures are created per connection beyond the promise executor.
import net from 'node:net';
import { endpointLabel, type ProxyEndpoint } from '@pgw/domain';
import { DialError, type DialFailureReason, type DialStep } from './dial-error.js';
import { guardedLookup, refuseLiteralHost } from './proxy-address-check.js';
import { formatHostPort } from './target.js';
import type { DialOptions, DialTarget } from './types.js';

/**
 * An answer's length in `reply`, 0 while incomplete, or a DialError. `seen`: how many of its bytes
 * an earlier call judged incomplete (they came before this chunk), so a parser that looks for an
 * end need not scan them again (a proxy dribbling a long head made each read rescan it whole).
 */
export type ReplyParser = (reply: Buffer, seen?: number) => number;

/** One request and the answer it waits for. */
export interface Exchange {
  readonly step: DialStep;
  /** Written when this exchange starts; null when an earlier write already carried it (pipelined). */
  readonly request: Buffer | null;
  readonly parse: ReplyParser;
}

// Dead peers behind a NAT-ed client connection are found within minutes, not the 2 h default.
const KEEPALIVE_INITIAL_DELAY_MS = 60_000;

const HANDSHAKE = Symbol('pgw.dialers.handshake');

/** What an answer is called in errors ("after the method selection"). */
export const ANSWER_NAME: Record<DialStep, string> = { connect: 'TCP connection', greeting: 'method selection', auth: 'auth reply', reply: 'reply' };

interface HandshakeSocket extends net.Socket {
  [HANDSHAKE]?: Handshake | undefined;
}

class Handshake {
  private buffered: Buffer | null = null;
  private index = 0;
  private timer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: HandshakeSocket,
    private readonly exchanges: readonly Exchange[],
    private readonly protocolName: string,
    private readonly proxy: ProxyEndpoint,
    /** null: open() of a warm connection, which has no target yet. */
    private readonly target: DialTarget | null,
    private readonly options: DialOptions,
    private readonly resolve: (socket: net.Socket) => void,
    private readonly reject: (error: DialError) => void,
  ) {}

  /** True when later requests rode along with the first write. */
  private get pipelined(): boolean {
    return this.exchanges.length > 1 && this.exchanges[1]!.request === null;
  }

  start(): void {
    const socket = this.socket;
    socket[HANDSHAKE] = this;
    // 'readable' (not 'data') so that removing the listener leaves the stream neither flowing
    // nor paused: the caller's pipe()/'data' starts it, with the unshifted bytes first.
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    this.options.signal?.addEventListener('abort', this);
    this.timer = setTimeout(onTimeout, this.options.timeoutMs, this);
    // A warm HTTP connection (open()): the TCP connection is all there is to wait for.
    if (this.exchanges.length === 0) return void socket.on('connect', onConnect);
    // Queued by net.Socket until connected, then sent as one segment (TCP_NODELAY).
    socket.write(this.exchanges[0]!.request!);
  }

  connected(): void {
    this.detach();
    this.resolve(this.socket);
  }

  receive(chunk: Buffer): boolean {
    if (this.graceTimer !== undefined) {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
    let seen = this.buffered === null ? 0 : this.buffered.length;
    let reply = this.buffered === null ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const exchange = this.exchanges[this.index]!;
      let length: number;
      try {
        length = exchange.parse(reply, seen);
        seen = 0;
      } catch (error) {
        const failure = error instanceof DialError ? error : new DialError('protocol_error', String(error));
        this.fail(this.stepError(failure.reason, failure.message, failure.step ?? exchange.step));
        return true;
      }
      if (length === 0) {
        this.buffered = reply;
        return false;
      }
      reply = reply.subarray(length);
      this.index++;
      if (this.index === this.exchanges.length) {
        this.detach();
        if (reply.length > 0) this.socket.unshift(reply);
        this.resolve(this.socket);
        return true;
      }
      const next = this.exchanges[this.index]!;
      if (next.request !== null) this.socket.write(next.request);
      if (reply.length === 0) {
        this.buffered = null;
        const grace = this.options.pipelineGraceMs;
        if (this.index === 1 && grace !== undefined && this.pipelined) this.graceTimer = setTimeout(onGrace, grace, this);
        return false;
      }
    }
  }

  /** Pipelined, the method selection came and then nothing of the next answer. */
  private unansweredPipelining(): boolean {
    return this.pipelined && this.index === 1 && (this.buffered === null || this.buffered.length === 0);
  }

  private pipeliningError(why: string): DialError {
    const step = this.exchanges[1]!.step;
    return this.stepError(
      'pipelining_unanswered',
      `no answer to the pipelined ${step === 'auth' ? 'auth' : 'CONNECT'} after the method selection (${why}): ` +
        'the proxy does not accept pipelining; set the handshake to auto or sequential',
      step,
    );
  }

  graceExpired(): void {
    this.graceTimer = undefined;
    if (this.unansweredPipelining()) this.fail(this.pipeliningError(`silent for ${this.options.pipelineGraceMs} ms`));
  }

  timedOut(): void {
    this.timer = undefined;
    const ms = this.options.timeoutMs;
    this.fail(
      this.socket.connecting
        ? this.stepError('connect_timeout', `no TCP connection to the proxy within ${ms} ms`, 'connect')
        : this.stepError('connect_timeout', `proxy did not complete the ${this.protocolName} handshake within ${ms} ms`),
    );
  }

  /** EventListener for the abort signal. */
  handleEvent(): void {
    this.fail(this.stepError('aborted', 'dial aborted by the caller'));
  }

  socketError(error: NodeJS.ErrnoException): void {
    // A refused proxy address, from the lookup hook: nothing was sent.
    if (error instanceof DialError) return this.fail(error);
    const code = error.code ?? 'unknown error';
    let reason: DialFailureReason;
    let message: string;
    if (code === 'ECONNREFUSED') {
      reason = 'connect_refused';
      message = 'proxy refused the TCP connection (ECONNREFUSED)';
    } else if (error.syscall === 'connect' || error.syscall === 'getaddrinfo' || this.socket.connecting) {
      reason = code === 'ETIMEDOUT' ? 'connect_timeout' : 'connect_failed';
      message = `cannot connect to the proxy (${code})`;
    } else if (this.unansweredPipelining()) {
      return this.fail(this.pipeliningError(`the connection failed: ${code}`));
    } else {
      reason = 'closed';
      message = `connection to the proxy failed during the ${this.protocolName} handshake (${code})`;
    }
    const connecting = reason !== 'closed';
    this.fail(new DialError(reason, `${connecting ? 'connect' : this.stepName()}: ${message}`, { cause: error, step: connecting ? 'connect' : this.currentStep(), answered: !connecting && this.answeredAny() }));
  }

  closed(): void {
    if (this.unansweredPipelining()) return this.fail(this.pipeliningError('the proxy closed the connection'));
    const partial = this.buffered !== null && this.buffered.length > 0;
    const where = partial
      ? `in the middle of its ${ANSWER_NAME[this.currentStep()]}`
      : this.index === 0
        ? `before answering the ${this.exchanges[0]?.step === 'greeting' ? 'greeting' : 'CONNECT'}`
        : `after the ${ANSWER_NAME[this.exchanges[this.index - 1]!.step]}`;
    this.fail(this.stepError('closed', `proxy closed the connection ${where}`, this.currentStep(), this.answeredAny()));
  }

  /** Some of the proxy's answers to this dial came (DialError.answered). */
  private answeredAny(): boolean {
    return this.index > 0 || (this.buffered !== null && this.buffered.length > 0);
  }

  private currentStep(): DialStep {
    return this.socket.connecting ? 'connect' : this.exchanges[this.index]!.step;
  }

  private stepName(step: DialStep = this.currentStep()): string {
    return step === 'connect' ? 'connect' : `${this.protocolName} ${step}`;
  }

  private stepError(reason: DialFailureReason, message: string, step: DialStep = this.currentStep(), answered = false): DialError {
    return new DialError(reason, `${this.stepName(step)}: ${message}`, { step, answered });
  }

  private fail(error: DialError): void {
    this.detach();
    this.socket.destroy();
    this.reject(withContext(error, this.proxy, this.target));
  }

  private detach(): void {
    const socket = this.socket;
    socket[HANDSHAKE] = undefined;
    socket.removeListener('readable', onReadable);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onEnd);
    socket.removeListener('error', onError);
    socket.removeListener('connect', onConnect);
    this.options.signal?.removeEventListener('abort', this);
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.buffered = null;
  }
}

function onReadable(this: HandshakeSocket): void {
  let chunk: Buffer | null;
  while (this[HANDSHAKE] !== undefined && (chunk = this.read() as Buffer | null) !== null) {
    if (this[HANDSHAKE].receive(chunk)) return;
  }
}

function onConnect(this: HandshakeSocket): void {
  this[HANDSHAKE]?.connected();
}

function onEnd(this: HandshakeSocket): void {
  this[HANDSHAKE]?.closed();
}

function onError(this: HandshakeSocket, error: NodeJS.ErrnoException): void {
  this[HANDSHAKE]?.socketError(error);
}

function onTimeout(handshake: Handshake): void {
  handshake.timedOut();
}

function onGrace(handshake: Handshake): void {
  handshake.graceExpired();
}

/** Prefixes the message with proxy and target (never the credentials) for logs; no target: a warm connection. */
export function withContext(error: DialError, proxy: ProxyEndpoint, target: DialTarget | null): DialError {
  const where = `${endpointLabel(proxy)} -> ${target === null ? '(warm, no target yet)' : formatHostPort(target.host, target.port)}`;
  return new DialError(error.reason, `${where}: ${error.message}`, { cause: error.cause, step: error.step, answered: error.answered });
}

/**
 * Dials `proxy` and runs `exchanges` (see Exchange), resolving once the last answer is complete.
 * Rejects with a DialError whose message names the proxy, target and step (never the credentials).
 * With `connected`, a socket from an earlier runHandshake (a warm connection), the exchanges run
 * on it instead: its proxy address was checked when it was dialed.
 */
export function runHandshake(
  proxy: ProxyEndpoint,
  target: DialTarget | null,
  options: DialOptions,
  protocolName: string,
  exchanges: readonly Exchange[],
  connected?: net.Socket,
): Promise<net.Socket> {
  if (!(options.timeoutMs > 0) || !Number.isFinite(options.timeoutMs)) {
    const error = new DialError('invalid_request', `dial timeoutMs must be a positive number (is ${options.timeoutMs})`);
    connected?.destroy();
    return Promise.reject(withContext(error, proxy, target));
  }
  if (options.signal?.aborted) {
    connected?.destroy();
    return Promise.reject(withContext(new DialError('aborted', 'dial aborted by the caller'), proxy, target));
  }
  if (connected !== undefined) {
    if (connected.destroyed || connected.readableEnded) {
      connected.destroy();
      return Promise.reject(withContext(new DialError('closed', 'the warm connection to the proxy was closed before use', { step: 'connect' }), proxy, target));
    }
    return new Promise<net.Socket>((resolve, reject) => {
      new Handshake(connected, exchanges, protocolName, proxy, target, options, resolve, reject).start();
    });
  }
  const check = options.checkProxyAddress;
  if (check !== undefined) {
    const refused = refuseLiteralHost(proxy.host, check);
    if (refused !== null) return Promise.reject(withContext(refused, proxy, target));
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({
      host: proxy.host,
      port: proxy.port,
      ...(check === undefined ? {} : { lookup: guardedLookup(check) }),
      noDelay: true,
      allowHalfOpen: options.allowHalfOpen !== false,
      keepAlive: options.keepAlive !== false,
      keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS,
    });
    new Handshake(socket, exchanges, protocolName, proxy, target, options, resolve, reject).start();
  });
}
