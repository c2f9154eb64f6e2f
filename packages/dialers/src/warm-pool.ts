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

/** What every open of the pool uses (its handshake and abort signal are the pool's). */
export type WarmOpenOptions = Omit<DialOptions, 'signal' | 'handshake'>;

const WARM = Symbol('pgw.dialers.warm');

interface WarmSocket extends Socket {
  [WARM]?: WarmConnection | undefined;
}

interface WarmConnection {
  readonly pool: WarmPool;
  readonly socket: WarmSocket;
  /** When its dial started: the proxy's idle clock runs from about then. */
  readonly openedAt: number;
  timer: NodeJS.Timeout | undefined;
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

export class WarmPool {
  private readonly sizing: WarmPoolSizing;
  /** Oldest first: the one closest to its max age is used first. */
  private readonly ready: WarmConnection[] = [];
  private opening = 0;
  private closed = false;
  private refillScheduled = false;
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
  ) {
    this.sizing = new WarmPoolSizing(settings);
  }

  get counts(): WarmPoolCounts {
    return { ready: this.ready.length, opening: this.opening };
  }

  get isOff(): boolean {
    return this.sizing.isOff(this.now());
  }

  /**
   * A connection through the proxy to `target`, as Dialer.dial: the CONNECT on a warm connection
   * when one is ready, else a new dial. Either way the demand is recorded and the pool refilled,
   * once the caller has its connection (see refillAfterCaller). A warm connection found closed by
   * the proxy counts against the pool and the client's connection is dialed anew, so that a stale
   * warm connection never fails a client.
   */
  async dial(target: DialTarget, options: DialOptions): Promise<Socket> {
    const takenAt = this.now();
    this.sizing.recordTake(takenAt);
    try {
      const warm = this.takeReady();
      if (warm === null) return await this.dialer.dial(this.proxy, target, options);
      try {
        const socket = await this.dialer.connectOn(warm.socket, this.proxy, target, options);
        this.sizing.recordUse();
        this.takeCounts.used++;
        return socket;
      } catch (error) {
        if (!(error instanceof DialError) || error.reason !== 'closed' || options.signal?.aborted) {
          this.takeCounts.used++;
          throw error;
        }
        this.takeCounts.stale++;
        this.rejected(takenAt - warm.openedAt);
        return await this.dialer.dial(this.proxy, target, options);
      }
    } finally {
      this.refillAfterCaller();
    }
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
    this.abort.abort();
    for (const warm of this.ready.splice(0)) discard(warm);
  }

  private takeReady(): WarmConnection | null {
    const warm = this.ready.shift();
    if (warm === undefined) return null;
    detach(warm);
    return warm;
  }

  /**
   * The refill after a dial, in the event loop's next check phase: after the caller's await has
   * resumed (the forwarder attaches its relay there), so that neither the connects nor a proxy's
   * answers to them come before the client's CONNECT or between its answer and the relay (about
   * 0.3 ms per connection measured). Several dials in one turn share one refill.
   */
  private refillAfterCaller(): void {
    if (this.refillScheduled) return;
    this.refillScheduled = true;
    setImmediate(() => {
      this.refillScheduled = false;
      this.refill();
    });
  }

  /** Opens warm connections up to the sizing's target (never for a closed pool). */
  private refill(): void {
    if (this.closed) return;
    const missing = this.sizing.target(this.now()) - this.ready.length - this.opening;
    for (let i = 0; i < missing; i++) this.openOne();
  }

  private openOne(): void {
    this.opening++;
    const openedAt = this.now();
    this.dialer.open(this.proxy, { ...this.openOptions, handshake: this.handshake, signal: this.abort }).then(
      (socket) => {
        this.opening--;
        if (this.closed) return void socket.destroy();
        this.sizing.recordOpen(this.now() - openedAt);
        this.keep(socket, openedAt);
      },
      () => {
        this.opening--;
        // Not refilled here: a proxy that refuses them is not asked again before the next demand.
        if (!this.closed) this.sizing.recordRejection(null, this.now());
      },
    );
  }

  private keep(socket: WarmSocket, openedAt: number): void {
    const warm: WarmConnection = { pool: this, socket, openedAt, timer: undefined };
    const left = this.sizing.maxAgeMs - (this.now() - openedAt);
    if (left <= 0) return void socket.destroy();
    warm.timer = setTimeout(onMaxAge, left, warm);
    socket[WARM] = warm;
    // 'readable', as the handshake does: removed, it leaves the stream for the next reader.
    socket.on('readable', onIdleEvent);
    socket.on('end', onIdleEvent);
    socket.on('close', onIdleEvent);
    socket.on('error', onIdleEvent);
    this.ready.push(warm);
  }

  /** Unused at its max age: closed, and replaced while there is demand. */
  expired(warm: WarmConnection): void {
    warm.timer = undefined;
    if (!this.remove(warm)) return;
    discard(warm);
    this.refill();
  }

  /** The proxy closed it, sent something unasked, or it failed, before any CONNECT. */
  lost(warm: WarmConnection): void {
    if (!this.remove(warm)) return;
    discard(warm);
    this.rejected(this.now() - warm.openedAt);
  }

  private rejected(ageMs: number): void {
    if (this.closed) return;
    // Within REJECTIONS_OFF tries the sizing turns the pool off, so this cannot loop.
    if (!this.sizing.recordRejection(ageMs, this.now())) this.refill();
  }

  private remove(warm: WarmConnection): boolean {
    const at = this.ready.indexOf(warm);
    if (at === -1) return false;
    this.ready.splice(at, 1);
    return true;
  }
}

function onMaxAge(warm: WarmConnection): void {
  warm.pool.expired(warm);
}

function onIdleEvent(this: WarmSocket): void {
  const warm = this[WARM];
  if (warm !== undefined) warm.pool.lost(warm);
}

function detach(warm: WarmConnection): void {
  const socket = warm.socket;
  if (warm.timer !== undefined) clearTimeout(warm.timer);
  warm.timer = undefined;
  socket[WARM] = undefined;
  socket.removeListener('readable', onIdleEvent);
  socket.removeListener('end', onIdleEvent);
  socket.removeListener('close', onIdleEvent);
  socket.removeListener('error', onIdleEvent);
}

function discard(warm: WarmConnection): void {
  detach(warm);
  warm.socket.destroy();
}
