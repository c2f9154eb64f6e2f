// Warm connections to one proxy (issue 12.4): TCP set up and, for SOCKS5, greeting and auth done,
// each waiting for one CONNECT. A client's connection then costs only the CONNECT exchange, which
// takes the place of the TCP handshake a direct connection pays. A warm connection serves one
// CONNECT at most (a proxy's connection is one tunnel), is closed unused after the sizing's max
// age (below the proxy's idle timeout), and the pool is as large as recent demand says
// (warm-pool-sizing.ts): empty for an idle proxy, off for a proxy that drops them.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ProxyEndpoint, ProxyHandshake } from '@pgw/domain';
import { DialAbort } from './dial-abort.js';
import { DialError } from './dial-error.js';
import type { DialOptions, DialTarget, Dialer } from './types.js';
import { type WarmPoolSettings, WarmPoolSizing } from './warm-pool-sizing.js';

/**
 * Without word that the connection a take served has ended (WarmPool.connectionEnded), the refill
 * after that take starts this long after it: a long-lived connection does not hold it back.
 */
export const REFILL_FALLBACK_MS = 5;

/** What every open of the pool uses (its handshake and abort signal are the pool's). */
export type WarmOpenOptions = Omit<DialOptions, 'signal' | 'handshake'>;

const WARM = Symbol('pgw.dialers.warm');

interface WarmSocket extends Socket {
  [WARM]?: WarmLoss | undefined;
}

/** Told when a watched warm connection is lost (WarmConnector.watch). */
export interface WarmLoss {
  lost(): void;
}

/**
 * How a pool opens, watches and closes its warm connections: by default the dialer's net.Sockets;
 * the forwarder's native dial keeps bare descriptors instead (nativeWarmConnector in
 * services/forwarder/src/tcp/native-dial.ts).
 */
export interface WarmConnector<C> {
  /** A new warm connection, as Dialer.open. */
  open(proxy: ProxyEndpoint, options: DialOptions): Promise<C>;
  /** Until unwatch: loss.lost() when the proxy closes it, sends something unasked, or it fails. */
  watch(connection: C, loss: WarmLoss): void;
  unwatch(connection: C): void;
  destroy(connection: C): void;
}

class WarmConnection<C> implements WarmLoss {
  constructor(
    readonly pool: WarmPool<C>,
    readonly connection: C,
    /** When its dial started: the proxy's idle clock runs from about then. */
    readonly openedAt: number,
  ) {}

  lost(): void {
    this.pool.lost(this);
  }
}

/** How a take completes (WarmPool.dialVia): over a warm connection, or by a new dial. */
export interface WarmVia<C, T> {
  /** The CONNECT on a warm connection (consumed: destroyed or handed on, whatever the outcome). */
  warm(connection: C): Promise<T>;
  /**
   * A new dial: no warm connection was ready, or the one taken was found closed (then within
   * `timeoutMs`, what is left of the dial's time, not the whole of it again).
   */
  cold(timeoutMs?: number): Promise<T>;
}

export interface WarmPoolCounts {
  /** Warm connections waiting for a CONNECT. */
  readonly ready: number;
  /** Warm connections being opened. */
  readonly opening: number;
}

export interface WarmTakes {
  readonly used: number;
  readonly stale: number;
}

export class WarmPool<C = Socket> {
  private readonly sizing: WarmPoolSizing;
  /** Oldest first: the one closest to its max age is used first, and expires first. */
  private readonly ready: WarmConnection<C>[] = [];
  /**
   * One max-age timer for the pool, due when the oldest warm connection it last saw expires, and
   * never cleared by a take: clearTimeout costs 10-25 µs on a cold cache (it unlinks the timer's
   * list and toggles the loop's ref), which a take, on every client's path to its CONNECT, would
   * pay. Unref'd: what waits for clients (the forwarder's listeners) keeps the process alive.
   */
  private expiry: NodeJS.Timeout | undefined = undefined;
  private readonly connector: WarmConnector<C>;
  private opening = 0;
  private closed = false;
  private refillScheduled = false;
  private refillFallback: NodeJS.Timeout | undefined = undefined;
  private readonly takeCounts = { used: 0, stale: 0 };
  private readonly abort = new DialAbort();

  constructor(
    private readonly dialer: Dialer,
    readonly proxy: ProxyEndpoint,
    /** The SOCKS5 handshake of the opens (the proxy's learned or forced mode); set again when it changes. */
    public handshake: ProxyHandshake,
    private readonly openOptions: WarmOpenOptions,
    settings: WarmPoolSettings,
    private readonly now: () => number = performance.now.bind(performance),
    /** Default: the dialer's net.Sockets (C is then Socket, hence the cast below). */
    connector?: WarmConnector<C>,
  ) {
    this.sizing = new WarmPoolSizing(settings);
    this.connector = connector ?? (socketConnector(dialer) as unknown as WarmConnector<C>);
  }

  get counts(): WarmPoolCounts {
    return { ready: this.ready.length, opening: this.opening };
  }

  get isOff(): boolean {
    return this.sizing.isOff(this.now());
  }

  /**
   * A connection through the proxy to `target`, as Dialer.dial: the CONNECT on a warm connection
   * when one is ready, else a new dial. Either way the demand is recorded and the pool refilled
   * once that connection has ended (see refillAfterServed). A warm connection found closed by
   * the proxy counts against the pool and the client's connection is dialed anew, so that a stale
   * warm connection never fails a client.
   */
  dial(this: WarmPool<Socket>, target: DialTarget, options: DialOptions): Promise<Socket> {
    return this.dialVia(options, new DialerVia(this.dialer, this.proxy, target, options));
  }

  /**
   * As dial(), with the CONNECT and the new dial done by the caller (the forwarder's native dial):
   * `via.warm` must reject with a DialError as connectOn does ('closed' for a warm connection the
   * proxy closed), so that the pool's accounting and the stale-connection retry stay the same.
   */
  dialVia<T>(options: DialOptions, via: WarmVia<C, T>): Promise<T> {
    const warm = this.takeReady();
    // The dial starts first (its first packet leaves within via.warm or via.cold), the bookkeeping
    // after: an async function's entry and a clock read cost microseconds each on a cold cache.
    return this.served(warm, warm === null ? via.cold() : via.warm(warm.connection), options, via);
  }

  /** A take's accounting and, for a warm connection found closed, the new dial; refilled once served. */
  private async served<T>(warm: WarmConnection<C> | null, dialing: Promise<T>, options: DialOptions, via: WarmVia<C, T>): Promise<T> {
    const takenAt = this.now();
    this.sizing.recordTake(takenAt);
    try {
      if (warm === null) return await dialing;
      try {
        const connection = await dialing;
        this.sizing.recordUse();
        this.takeCounts.used++;
        return connection;
      } catch (error) {
        // Not stale if the proxy answered before it closed: it read the CONNECT (and the client's
        // early bytes with it), which a new dial would send again; nor if no time is left.
        const left = options.timeoutMs - (this.now() - takenAt);
        if (!(error instanceof DialError) || error.reason !== 'closed' || error.answered || left < 1 || options.signal?.aborted) {
          this.takeCounts.used++;
          throw error;
        }
        const fresh = via.cold(Math.floor(left));
        // Refused by a close on a new connection too: the proxy closes on this CONNECT (an ACL, a
        // cap), the warm connection was not stale. Counted as stale, one such client turned the
        // pool off for every mapping on the proxy (a young connection halves the age below its minimum).
        const refusedAgain = await fresh.then(
          () => false,
          (coldError: unknown) => coldError instanceof DialError && coldError.reason === 'closed',
        );
        if (refusedAgain) {
          this.takeCounts.used++;
        } else {
          this.takeCounts.stale++;
          this.rejected(takenAt - warm.openedAt);
        }
        return await fresh;
      }
    } finally {
      this.refillAfterServed();
    }
  }

  /** A connection this pool served (warm, or dialed anew) has ended: the refill it waited for starts. */
  connectionEnded(): void {
    this.refillSoon();
  }

  /** How long opening a warm connection to this proxy takes (smoothed), ms; null until one opened. */
  get setupMs(): number | null {
    return this.sizing.setupMs;
  }

  /**
   * Warm connections taken so far: used (the CONNECT went over it, whatever the answer) and stale
   * (found closed by the proxy: the client was dialed anew).
   */
  get takes(): WarmTakes {
    return { ...this.takeCounts };
  }

  /** Closes every warm connection and the opens in flight; the pool opens none after this. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.refillFallback);
    this.refillFallback = undefined;
    clearTimeout(this.expiry);
    this.expiry = undefined;
    this.abort.abort();
    for (const warm of this.ready.splice(0)) this.discard(warm);
  }

  private takeReady(): WarmConnection<C> | null {
    const warm = this.ready.shift();
    if (warm === undefined) return null;
    this.detach(warm);
    return warm;
  }

  /**
   * The refill after a take waits for the end of the connection it served (connectionEnded), or
   * REFILL_FALLBACK_MS, whichever comes first. A refill is work for the proxy as well (its accept,
   * the greeting and auth), and right after a take the proxy is busy with that connection: its
   * CONNECT, then its first request and answer. Measured on the lab's dante (docs/benchmarks.md,
   * "refill after the connection"): the answer to the client's first request took 0.33 ms with the
   * refill right after the take, 0.19 ms with it after the connection, as with no pool at all.
   * Before the take's CONNECT was answered it delayed that answer instead.
   */
  private refillAfterServed(): void {
    if (this.refillFallback !== undefined || this.closed) return;
    this.refillFallback = setTimeout(() => this.refill(), REFILL_FALLBACK_MS);
    this.refillFallback.unref();
  }

  /** The refill in the event loop's next check phase: connections that end in one turn share it. */
  private refillSoon(): void {
    if (this.refillScheduled) return;
    this.refillScheduled = true;
    setImmediate(() => {
      this.refillScheduled = false;
      this.refill();
    });
  }

  /**
   * Opens warm connections up to the sizing's target (never for a closed pool). It covers every
   * take so far (the sizing counts them), so a fallback still pending is not needed any more.
   */
  private refill(): void {
    clearTimeout(this.refillFallback);
    this.refillFallback = undefined;
    if (this.closed) return;
    const missing = this.sizing.target(this.now()) - this.ready.length - this.opening;
    for (let i = 0; i < missing; i++) this.openOne();
  }

  private openOne(): void {
    this.opening++;
    const openedAt = this.now();
    this.connector.open(this.proxy, { ...this.openOptions, handshake: this.handshake, signal: this.abort }).then(
      (connection) => {
        this.opening--;
        if (this.closed) return void this.connector.destroy(connection);
        this.sizing.recordOpen(this.now() - openedAt);
        try {
          this.keep(connection, openedAt);
        } catch {
          // Not watchable (the native watch's epoll_ctl refused: out of watches or memory): a warm
          // connection nobody watches could not be told closed, so it goes, counted as lost.
          this.connector.destroy(connection);
          this.sizing.recordRejection(null, this.now());
        }
      },
      () => {
        this.opening--;
        // Not refilled here: a proxy that refuses them is not asked again before the next demand.
        if (!this.closed) this.sizing.recordRejection(null, this.now());
      },
    );
  }

  private keep(connection: C, openedAt: number): void {
    const left = this.sizing.maxAgeMs - (this.now() - openedAt);
    if (left <= 0) return void this.connector.destroy(connection);
    const warm = new WarmConnection(this, connection, openedAt);
    this.connector.watch(connection, warm);
    // Opens end about in the order they began: this one goes last, unless a slower open began later.
    let at = this.ready.length;
    while (at > 0 && this.ready[at - 1]!.openedAt > openedAt) at--;
    this.ready.splice(at, 0, warm);
    // A timer due later than this one's max age (none, or one armed for a younger connection) is moved up.
    if (this.expiry === undefined || at === 0) this.armExpiry(left);
  }

  private armExpiry(inMs: number): void {
    clearTimeout(this.expiry);
    this.expiry = setTimeout(onMaxAge, Math.max(1, Math.ceil(inMs)), this);
    this.expiry.unref();
  }

  /** The timer at the oldest warm connection's max age, if any is left. */
  private armForOldest(now: number): void {
    if (this.ready.length > 0) this.armExpiry(this.sizing.maxAgeMs - (now - this.ready[0]!.openedAt));
  }

  /** Unused at their max age: closed, and replaced while there is demand; the timer then follows the oldest left. */
  expireDue(): void {
    this.expiry = undefined;
    if (this.closed) return;
    const now = this.now();
    const maxAgeMs = this.sizing.maxAgeMs;
    let expired = 0;
    while (this.ready.length > 0 && now - this.ready[0]!.openedAt >= maxAgeMs) {
      this.discard(this.ready.shift()!);
      expired++;
    }
    this.armForOldest(now);
    if (expired > 0) this.refill();
  }

  /** The proxy closed it, sent something unasked, or it failed, before any CONNECT. */
  lost(warm: WarmConnection<C>): void {
    if (!this.remove(warm)) return;
    this.discard(warm);
    this.rejected(this.now() - warm.openedAt);
  }

  private detach(warm: WarmConnection<C>): void {
    this.connector.unwatch(warm.connection);
  }

  private discard(warm: WarmConnection<C>): void {
    this.detach(warm);
    this.connector.destroy(warm.connection);
  }

  private rejected(ageMs: number): void {
    if (this.closed) return;
    // Within REJECTIONS_OFF tries the sizing turns the pool off, so this cannot loop.
    if (this.sizing.recordRejection(ageMs, this.now())) return;
    // The max age may have just been shortened (the proxy closes idle connections sooner): the
    // oldest is due earlier than the timer says.
    this.armForOldest(this.now());
    this.refill();
  }

  private remove(warm: WarmConnection<C>): boolean {
    const at = this.ready.indexOf(warm);
    if (at === -1) return false;
    this.ready.splice(at, 1);
    return true;
  }
}

/**
 * WarmPool.dial's two ways on, as an object rather than two closures per connection (a bundle that
 * keeps names, as the services' does, gives each named closure an Object.defineProperty).
 */
class DialerVia implements WarmVia<Socket, Socket> {
  constructor(
    private readonly dialer: Dialer,
    private readonly proxy: ProxyEndpoint,
    private readonly target: DialTarget,
    private readonly options: DialOptions,
  ) {}

  warm(socket: Socket): Promise<Socket> {
    return this.dialer.connectOn(socket, this.proxy, this.target, this.options);
  }

  cold(timeoutMs?: number): Promise<Socket> {
    return this.dialer.dial(this.proxy, this.target, timeoutMs === undefined ? this.options : { ...this.options, timeoutMs });
  }
}

function onMaxAge(pool: WarmPool<unknown>): void {
  pool.expireDue();
}

/** The default connector: the dialer's sockets, watched through module-level listeners (no closure per connection). */
function socketConnector(dialer: Dialer): WarmConnector<Socket> {
  return {
    open: (proxy, options) => dialer.open(proxy, options),
    watch(socket: WarmSocket, loss) {
      socket[WARM] = loss;
      // 'readable', as the handshake does: removed, it leaves the stream for the next reader.
      socket.on('readable', onIdleEvent);
      socket.on('end', onIdleEvent);
      socket.on('close', onIdleEvent);
      socket.on('error', onIdleEvent);
    },
    unwatch(socket: WarmSocket) {
      socket[WARM] = undefined;
      socket.removeListener('readable', onIdleEvent);
      socket.removeListener('end', onIdleEvent);
      socket.removeListener('close', onIdleEvent);
      socket.removeListener('error', onIdleEvent);
    },
    destroy: (socket) => void socket.destroy(),
  };
}

function onIdleEvent(this: WarmSocket): void {
  this[WARM]?.lost();
}
