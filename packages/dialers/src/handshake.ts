// Connects to a proxy, sends the whole handshake request in one write and feeds the replies
// to a pure parser. Per dial this allocates the socket, one Handshake and the promise; the
// event handlers are module-level functions that find their Handshake through a symbol on the
// socket, the timer gets it as an argument and the abort signal calls its handleEvent, so no
// closures are created per connection beyond the promise executor.
import net from 'node:net';
import { endpointLabel, type ProxyEndpoint } from '@pgw/domain';
import { DialError, type DialFailureReason } from './dial-error.js';
import { guardedLookup, refuseLiteralHost } from './proxy-address-check.js';
import { formatHostPort } from './target.js';
import type { DialOptions, DialTarget } from './types.js';

/** Returns 0 while the reply is incomplete, else the reply's length; throws DialError. */
export type ReplyParser<Context extends number> = (reply: Buffer, context: Context) => number;

// Dead peers behind a NAT-ed client connection are found within minutes, not the 2 h default.
const KEEPALIVE_INITIAL_DELAY_MS = 60_000;

const HANDSHAKE = Symbol('pgw.dialers.handshake');

interface HandshakeSocket extends net.Socket {
  [HANDSHAKE]?: Handshake | undefined;
}

class Handshake {
  private buffered: Buffer | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: HandshakeSocket,
    private readonly parse: ReplyParser<number>,
    private readonly context: number,
    private readonly protocolName: string,
    private readonly proxy: ProxyEndpoint,
    private readonly target: DialTarget,
    private readonly options: DialOptions,
    private readonly resolve: (socket: net.Socket) => void,
    private readonly reject: (error: DialError) => void,
  ) {}

  start(request: Buffer): void {
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
    // Queued by net.Socket until connected, then sent as one segment (TCP_NODELAY).
    socket.write(request);
  }

  receive(chunk: Buffer): boolean {
    const reply = this.buffered === null ? chunk : Buffer.concat([this.buffered, chunk]);
    let length: number;
    try {
      length = this.parse(reply, this.context);
    } catch (error) {
      this.fail(error instanceof DialError ? error : new DialError('protocol_error', String(error)));
      return true;
    }
    if (length === 0) {
      this.buffered = reply;
      return false;
    }
    this.detach();
    if (length < reply.length) this.socket.unshift(reply.subarray(length));
    this.resolve(this.socket);
    return true;
  }

  timedOut(): void {
    this.timer = undefined;
    const ms = this.options.timeoutMs;
    this.fail(
      new DialError(
        'connect_timeout',
        this.socket.connecting
          ? `no TCP connection to the proxy within ${ms} ms`
          : `proxy did not complete the ${this.protocolName} handshake within ${ms} ms`,
      ),
    );
  }

  /** EventListener for the abort signal. */
  handleEvent(): void {
    this.fail(new DialError('aborted', 'dial aborted by the caller'));
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
    } else {
      reason = 'closed';
      message = `connection to the proxy failed during the ${this.protocolName} handshake (${code})`;
    }
    this.fail(new DialError(reason, message, { cause: error }));
  }

  closed(): void {
    this.fail(new DialError('closed', `proxy closed the connection during the ${this.protocolName} handshake`));
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
    this.options.signal?.removeEventListener('abort', this);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.buffered = null;
  }
}

function onReadable(this: HandshakeSocket): void {
  let chunk: Buffer | null;
  while (this[HANDSHAKE] !== undefined && (chunk = this.read() as Buffer | null) !== null) {
    if (this[HANDSHAKE].receive(chunk)) return;
  }
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

/** Prefixes the message with proxy and target (never the credentials) for logs. */
export function withContext(error: DialError, proxy: ProxyEndpoint, target: DialTarget): DialError {
  const where = `${endpointLabel(proxy)} -> ${formatHostPort(target.host, target.port)}`;
  return new DialError(error.reason, `${where}: ${error.message}`, { cause: error.cause });
}

/**
 * Dials `proxy`, writes `request` and resolves once `parse` accepts the reply. Rejects with a
 * DialError whose message names the proxy and target (never the credentials).
 */
export function runHandshake<Context extends number>(
  proxy: ProxyEndpoint,
  target: DialTarget,
  options: DialOptions,
  protocolName: string,
  request: Buffer,
  parse: ReplyParser<Context>,
  context: Context,
): Promise<net.Socket> {
  if (!(options.timeoutMs > 0) || !Number.isFinite(options.timeoutMs)) {
    const error = new DialError('invalid_request', `dial timeoutMs must be a positive number (is ${options.timeoutMs})`);
    return Promise.reject(withContext(error, proxy, target));
  }
  if (options.signal?.aborted) {
    return Promise.reject(withContext(new DialError('aborted', 'dial aborted by the caller'), proxy, target));
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
    const handshake = new Handshake(
      socket,
      parse as ReplyParser<number>,
      context,
      protocolName,
      proxy,
      target,
      options,
      resolve,
      reject,
    );
    handshake.start(request);
  });
}
