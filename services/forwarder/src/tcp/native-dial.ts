// The upstream dial in the native addon (PGW_FORWARDER_DIAL=native, issue 12): TCP connect and the
// SOCKS5 / HTTP CONNECT exchanges without a net.Socket (packages/original-dst/native/upstream_dial.cc),
// on a new connection or on a warm one, which is kept as a bare descriptor too (nativeWarmConnector).
// The exchanges are the JavaScript dialers' own (handshakePlan) and every failure is worded by them
// (planFailure): the same errors, reasons and steps as a JavaScript dial. A proxy given by name is
// dialed by the JavaScript dialers (they resolve it and check each address).
import { isIP, Socket } from 'node:net';
import {
  DialError,
  type DialOptions,
  type DialTarget,
  dialerFor,
  type HandshakePlan,
  handshakePlan,
  openPlan,
  planAborted,
  planFailure,
  refuseLiteralHost,
  type WarmConnector,
  type WarmLoss,
  type WarmPool,
  type WarmVia,
  withContext,
} from '@pgw/dialers';
import type { ProxyEndpoint } from '@pgw/domain';
import { closeFd, type DialRelay, dialNative, dialNativeOn, dialNativeOnFd, type NativeDial, type NativeDialDone, type NativeDialFailure, type SplicedRelay, watchDescriptor } from '@pgw/original-dst';

export const DIAL_MODES = ['native', 'js'] as const;
export type DialMode = (typeof DIAL_MODES)[number];

/**
 * A connection through the proxy as a bare descriptor (now the caller's), the target's first bytes
 * if any came with the answer, and how many of the client's bytes went with the CONNECT; or, for a
 * dial asked to relay (NativeDialExtras.relay), the relay it started (fd -1: the relay holds it).
 */
export interface NativeUpstream {
  readonly fd: number;
  readonly leftover: Buffer | undefined;
  readonly earlyBytes: number;
  readonly relay: SplicedRelay | undefined;
}

/** A warm connection of a native pool: greeting and auth done, a bare descriptor watched for the proxy closing it. */
export class NativeWarm {
  watcher: { close(): void } | null = null;

  constructor(readonly fd: number) {}
}

const RUN = Symbol('pgw.forwarder.nativeDial');

interface RunDial extends NativeDial {
  [RUN]?: NativeDialRun;
}

/** One native dial between its start and its outcome: the abort listener and the promise's ends. */
class NativeDialRun {
  private dial: RunDial | null = null;
  /** Resolved, rejected or aborted: a later outcome only gives its descriptor back. */
  private settled = false;

  constructor(
    private readonly plan: HandshakePlan,
    private readonly proxy: ProxyEndpoint,
    /** null: a warm connection's open. */
    private readonly target: DialTarget | null,
    private readonly options: DialOptions,
    private readonly resolve: (upstream: NativeUpstream) => void,
    private readonly reject: (error: DialError) => void,
  ) {}

  /** Starts the dial; a start that throws (no descriptor left) is worded as the connect failure it is. */
  start(begin: (onDone: NativeDialDone) => NativeDial | null): boolean {
    let dial: RunDial | null;
    try {
      dial = begin(onNativeDone);
    } catch (error) {
      const errno = (error as { errno?: unknown }).errno;
      const failure = { what: 'connect' as const, errno: typeof errno === 'number' ? errno : 0, stage: 0, bytes: Buffer.alloc(0), connecting: true };
      this.settled = true;
      this.reject(planFailure(this.plan, failure, this.proxy, this.target, this.options.timeoutMs));
      return true;
    }
    if (dial === null) return false;
    dial[RUN] = this;
    this.dial = dial;
    this.options.signal?.addEventListener('abort', this);
    return true;
  }

  done(failure: NativeDialFailure | null, fd: number, leftover: Buffer | undefined, earlyBytes: number, relay: SplicedRelay | undefined): void {
    // Cancelled dials never get here (cancel() silences them, their relay included); a settled one
    // still would have to give its connection back, which nobody else would close.
    if (this.settled) {
      if (relay !== undefined) relay.close(true);
      else if (failure === null) closeFd(fd);
      return;
    }
    this.settled = true;
    this.options.signal?.removeEventListener('abort', this);
    this.dial = null;
    if (failure !== null) return this.reject(planFailure(this.plan, failure, this.proxy, this.target, this.options.timeoutMs));
    this.resolve({ fd, leftover, earlyBytes, relay });
  }

  /** EventListener for the abort signal. */
  handleEvent(): void {
    if (this.dial === null || this.settled) return;
    this.settled = true;
    this.dial.cancel();
    this.dial = null;
    this.options.signal?.removeEventListener('abort', this);
    this.reject(planAborted(this.plan, this.proxy, this.target));
  }
}

function onNativeDone(this: RunDial, failure: NativeDialFailure | null, fd: number, leftover: Buffer | undefined, earlyBytes: number, relay: SplicedRelay | undefined): void {
  this[RUN]!.done(failure, fd, leftover, earlyBytes, relay);
}

/** What a native dial may do beyond the dialers' options. */
export interface NativeDialExtras {
  /** The client's descriptor: its bytes so far go with the CONNECT where the proxy keeps them (earlyDataFd). */
  readonly clientFd?: number;
  /** TCP Fast Open on new connections (PGW_FORWARDER_TCP_FASTOPEN; see dialNative). */
  readonly fastOpen?: boolean;
  /** The relay a native dial starts itself on success (DialRelay); a JavaScript dial ignores it. */
  readonly relay?: DialRelay;
}

/**
 * A connection through `proxy` to `target`: over a warm connection of `pool` when one is ready
 * (the pool's accounting as for a JavaScript dial), else a new one; natively, except for a proxy
 * given by name (the JavaScript dialer then, a net.Socket). Rejects with the dialers' DialError.
 */
export function dialUpstream(proxy: ProxyEndpoint, target: DialTarget, options: DialOptions, pool: WarmPool<NativeWarm> | null, extras: NativeDialExtras = {}): Promise<NativeUpstream | Socket> {
  const earlyFd = earlyDataFd(proxy, options, extras.clientFd ?? -1);
  const fastOpen = extras.fastOpen ?? false;
  if (pool === null) return dialCold(proxy, target, options, earlyFd, fastOpen, extras.relay);
  return pool.dialVia(options, new NativeVia(proxy, target, options, earlyFd, fastOpen, extras.relay));
}

/**
 * A take's two ways on (WarmVia), as an object rather than two closures per connection: the
 * services' bundle keeps every function's name (keepNames), which costs each closure that has one
 * an Object.defineProperty (~10 µs of a cold cache, on the client's path to its CONNECT).
 */
class NativeVia implements WarmVia<NativeWarm, NativeUpstream | Socket> {
  constructor(
    private readonly proxy: ProxyEndpoint,
    private readonly target: DialTarget,
    private readonly options: DialOptions,
    private readonly earlyFd: number,
    private readonly fastOpen: boolean,
    private readonly relay: DialRelay | undefined,
  ) {}

  warm(warm: NativeWarm): Promise<NativeUpstream> {
    return dialWarm(warm, this.proxy, this.target, this.options, this.earlyFd, this.relay);
  }

  cold(timeoutMs?: number): Promise<NativeUpstream | Socket> {
    const options = timeoutMs === undefined ? this.options : { ...this.options, timeoutMs };
    return dialCold(this.proxy, this.target, options, this.earlyFd, this.fastOpen, this.relay);
  }
}

/**
 * The client's descriptor for early data, or -1: only SOCKS5 with the handshake early-data (forced,
 * or learned by the health probe: the proxy relayed bytes sent before its reply). HTTP CONNECT never:
 * a proxy that refuses the CONNECT may keep the connection and read those bytes as its next request,
 * one the destination guard never saw; a SOCKS5 server closes after a refusal (RFC 1928 section 6).
 */
function earlyDataFd(proxy: ProxyEndpoint, options: DialOptions, clientFd: number): number {
  return proxy.protocol === 'socks5' && options.handshake === 'early-data' ? clientFd : -1;
}

/** As runHandshake's checks before any packet: an early abort, a refused literal address; null when the dial may start. */
function refusedBefore(proxy: ProxyEndpoint, target: DialTarget | null, options: DialOptions): DialError | null {
  if (options.signal?.aborted) return withContext(new DialError('aborted', 'dial aborted by the caller'), proxy, target);
  const check = options.checkProxyAddress;
  const refused = check === undefined ? null : refuseLiteralHost(proxy.host, check);
  return refused === null ? null : withContext(refused, proxy, target);
}

function dialCold(proxy: ProxyEndpoint, target: DialTarget, options: DialOptions, earlyFd: number, fastOpen: boolean, relay: DialRelay | undefined): Promise<NativeUpstream | Socket> {
  // A name is resolved, and each of its addresses checked, by the JavaScript dialer's lookup hook.
  if (!nativeAddress(proxy.host)) return dialerFor(proxy.protocol).dial(proxy, target, options);
  const refused = refusedBefore(proxy, target, options);
  if (refused !== null) return Promise.reject(refused);
  let plan: HandshakePlan;
  try {
    plan = handshakePlan(proxy, target, options, false);
  } catch (error) {
    return Promise.reject(error as Error);
  }
  return new Promise<NativeUpstream>((resolve, reject) => {
    new NativeDialRun(plan, proxy, target, options, resolve, reject).start((onDone) => dialNative(proxy.host, proxy.port, plan.stages, options.timeoutMs, onDone, { earlyFd, fastOpen, relay }));
  });
}

/**
 * An address the addon connects to itself: an IP literal without a zone (inet_pton takes no
 * `%eth0`). A name, or a scoped IPv6 address, goes through the JavaScript dialer.
 */
function nativeAddress(host: string): boolean {
  return isIP(host) !== 0 && !host.includes('%');
}

/** The CONNECT (with early data, if any) on a warm connection; its descriptor is consumed whatever the outcome. */
function dialWarm(warm: NativeWarm, proxy: ProxyEndpoint, target: DialTarget, options: DialOptions, earlyFd: number, relay: DialRelay | undefined): Promise<NativeUpstream> {
  let plan: HandshakePlan;
  try {
    const refused = refusedBefore(proxy, target, options);
    if (refused !== null) throw refused;
    plan = handshakePlan(proxy, target, options, true);
  } catch (error) {
    closeFd(warm.fd);
    return Promise.reject(error as Error);
  }
  return new Promise<NativeUpstream>((resolve, reject) => {
    // The dial takes the descriptor over; one that could not start leaves it ours to close.
    let taken = false;
    new NativeDialRun(plan, proxy, target, options, resolve, reject).start((onDone) => {
      const dial = dialNativeOnFd(warm.fd, plan.stages, options.timeoutMs, onDone, earlyFd, relay);
      taken = true;
      return dial;
    });
    if (!taken) closeFd(warm.fd);
  });
}

/**
 * Opens a warm connection natively (greeting and auth for SOCKS5, the TCP connection for HTTP);
 * with `fastOpen` the SOCKS5 greeting rides the SYN (HTTP has nothing to send before its CONNECT).
 */
function openWarm(proxy: ProxyEndpoint, options: DialOptions, fastOpen: boolean): Promise<NativeWarm> {
  let plan: HandshakePlan;
  try {
    const refused = refusedBefore(proxy, null, options);
    if (refused !== null) throw refused;
    plan = openPlan(proxy, options);
  } catch (error) {
    return Promise.reject(error as Error);
  }
  const opened = new Promise<NativeUpstream>((resolve, reject) => {
    const run = new NativeDialRun(plan, proxy, null, options, resolve, reject);
    // Nobody waits for it: its connect leaves the loop thread (the idle connector).
    if (nativeAddress(proxy.host)) return void run.start((onDone) => dialNative(proxy.host, proxy.port, plan.stages, options.timeoutMs, onDone, { fastOpen, idle: true }));
    // A name: the JavaScript dialer opens it (resolved and checked), then its descriptor is taken over (no exchange left).
    dialerFor(proxy.protocol)
      .open(proxy, options)
      .then((socket) => {
        if (!run.start((onDone) => dialNativeOn(socket, [], options.timeoutMs, onDone))) {
          socket.destroy();
          reject(withContext(new DialError('closed', 'the warm connection could not be taken over (bytes read, or no descriptor left)', { step: 'connect' }), proxy, null));
        }
      }, reject);
  });
  return opened.then((upstream) => toWarm(upstream, proxy));
}

/**
 * The opened connection as a warm one; refused when the proxy sent more than its answers: bytes
 * unasked before any CONNECT, read with the answers, so the descriptor's watch could not see them
 * (the JavaScript pool drops such a connection as lost). The pool counts the refusal as a rejection.
 */
function toWarm(upstream: NativeUpstream, proxy: ProxyEndpoint): NativeWarm {
  if (upstream.leftover === undefined || upstream.leftover.length === 0) return new NativeWarm(upstream.fd);
  closeFd(upstream.fd);
  throw withContext(new DialError('protocol_error', `the proxy sent ${upstream.leftover.length} bytes unasked before any CONNECT`), proxy, null);
}

function unwatch(warm: NativeWarm): void {
  warm.watcher?.close();
  warm.watcher = null;
}

/**
 * A WarmPool's connector for the native dial: warm connections kept as descriptors (no net.Socket),
 * opened with TCP Fast Open when `fastOpen` (PGW_FORWARDER_TCP_FASTOPEN).
 */
export function nativeWarmConnector(fastOpen: boolean): WarmConnector<NativeWarm> {
  return {
    open: (proxy, options) => openWarm(proxy, options, fastOpen),
    watch(warm: NativeWarm, loss: WarmLoss) {
      // Readable or hung up before any CONNECT: the proxy closed it or sent something unasked.
      warm.watcher = watchDescriptor(warm.fd, () => loss.lost());
    },
    unwatch,
    destroy(warm: NativeWarm) {
      unwatch(warm);
      closeFd(warm.fd);
    },
  };
}

/** True for an upstream from the native dial (a descriptor), false for a net.Socket. */
export function isNativeUpstream(upstream: NativeUpstream | Socket): upstream is NativeUpstream {
  return !(upstream instanceof Socket);
}
