// The per-connection hot path. One Relay object per accepted connection, found from its sockets
// through a symbol, so every event handler below is a module-level function: no closures.
// The client arrives as a bare descriptor (acceptTcp in mapping-listener.ts): nothing is read from
// it before its upstream exists, its bytes wait in the kernel.
// Mode splice (the default, PGW_FORWARDER_RELAY): once the upstream is connected, the client's
// descriptor and the upstream socket are handed to the native addon and the kernel moves the bytes
// (splice(2) through a pipe; see packages/original-dst/native/splice_relay.cc), so the client never
// gets a net.Socket. Mode js, and what the addon declines (splice(2) unavailable here, TLS, writes
// queued, no descriptor left): the client's descriptor becomes a net.Socket, chunks go from one
// socket's read straight into the other's write, and a full write buffer pauses the reading side
// until 'drain'.
// A side that fails (a reset, mostly) is passed on as a reset of the other, after what is queued
// for it, never as an end of stream (as the kernel relay does: splice_relay.cc).
import { Socket, type SocketConstructorOpts } from 'node:net';
import type { WarmPool } from '@pgw/dialers';
import { closeFd, type DialRelay, resetFd, resetSocket, socketDescriptor, type SplicedRelay, spliceDescriptor, spliceDescriptors, takeSocketError, unacknowledgedBytes } from '@pgw/original-dst';
import type { NativeUpstream } from './native-dial.js';

const RELAY = Symbol('pgw.forwarder.relay');
/** A dial's relay that ended before the dial's outcome reached us (both come in the same close phase). */
const ENDED = Symbol('pgw.forwarder.relayEnded');

/**
 * After one side failed: how long the other is waited for without any of its undelivered bytes
 * acknowledged before its reset (splice_relay.cc's kAbortFlushMs); a reader still taking them is given them.
 */
const FAILURE_FLUSH_MS = 1_000;
/** The pause between two looks at the survivor's undelivered bytes: from 1 ms, doubling to this (splice_relay.cc's kAbortPollMaxMs). */
const FAILURE_POLL_MAX_MS = 64;

export const RELAY_MODES = ['splice', 'js'] as const;
export type RelayMode = (typeof RELAY_MODES)[number];

export interface RelaySocket extends Socket {
  [RELAY]?: Relay;
}

interface RelaySplice extends SplicedRelay {
  [RELAY]?: Relay;
  [ENDED]?: true;
}

/** The mapping listener a relay belongs to: told where its bytes move once it starts, and exactly once when both sockets are closed. */
export interface RelayOwner {
  relayStarted(mode: RelayMode): void;
  relayReleased(relay: Relay): void;
}

export class Relay {
  /** Intrusive list of the owner's relays, so adding and removing one allocates nothing. */
  prev: Relay | null = null;
  next: Relay | null = null;
  upstream: RelaySocket | null = null;
  /** The client as a stream: only in the JS relay (created at attach). */
  client: RelaySocket | null = null;
  /** Both sockets closed and the owner told: a dial still in flight must throw its socket away. */
  released = false;
  /** The warm pool that served this connection's dial, told when it ends (its refill waits for that). */
  servedBy: Pick<WarmPool<unknown>, 'connectionEnded'> | null = null;
  /** Where the client's connection goes (the address the destination policy judged): judged again when the policy tightens. */
  destination = '';
  /** The policy changed while this relay's dial was in flight: judged again once it is attached. */
  judgeAgain = false;
  /** The client's descriptor until attach or the end (then -1): ours to close. */
  private clientFd: number;
  private openSockets = 0;
  private idleTimeoutMs = 0;
  /** Set once the sockets are handed over to the kernel relay; the net.Sockets are gone then. */
  private spliced: RelaySplice | null = null;
  /** The client's bytes the native dial sent with the CONNECT (early data), before the relay. */
  private earlyBytes = 0;
  /** A side failed: the other is reset once it has delivered what it holds (failed()). */
  private failing = false;

  constructor(
    clientFd: number,
    readonly owner: RelayOwner,
  ) {
    this.clientFd = clientFd;
  }

  /** Its dial is in flight: the client's descriptor is still ours and a dial may still read it (early data). */
  get dialing(): boolean {
    return this.spliced === null && this.client === null && this.clientFd >= 0;
  }

  /** The client's descriptor while no relay holds it (a dial may send its first bytes as early data), else -1. */
  get descriptor(): number {
    return this.clientFd;
  }

  /**
   * Starts relaying both ways over an upstream socket that is connected through the proxy.
   * Whatever the client sent meanwhile waits in the kernel and flows now.
   */
  attach(upstream: RelaySocket, idleTimeoutMs: number, mode: RelayMode): void {
    this.idleTimeoutMs = idleTimeoutMs;
    upstream[RELAY] = this;
    this.upstream = upstream;
    if (mode === 'splice') {
      const spliced: RelaySplice | null = spliceDescriptor(this.clientFd, upstream, idleTimeoutMs, onSpliceClosed);
      if (spliced !== null) return this.adoptSplice(spliced);
    }
    let client: RelaySocket;
    try {
      client = new Socket({ fd: this.clientFd, allowHalfOpen: true, readable: true, writable: true, pauseOnCreate: true } as SocketFromFd);
    } catch {
      // Not a TCP socket any more (cannot happen for an accepted one) or out of memory: end it,
      // and the tunnel already open at the proxy with it (no stream owns it yet).
      upstream.destroy();
      return this.reset();
    }
    this.clientFd = -1;
    this.client = client;
    client[RELAY] = this;
    this.openSockets = 2;
    this.owner.relayStarted('js');
    client.on('error', onSocketError);
    client.on('close', onSocketClose);
    upstream.on('error', onSocketError);
    upstream.on('close', onSocketClose);
    upstream.on('data', onUpstreamData);
    upstream.on('end', onUpstreamEnd);
    upstream.on('drain', onUpstreamDrain);
    client.on('data', onClientData);
    client.on('end', onClientEnd);
    client.on('drain', onClientDrain);
    // Every read and write of the client socket counts as activity, so one timer covers both directions.
    client.setTimeout(idleTimeoutMs);
    client.on('timeout', onIdle);
    client.resume();
    upstream.resume();
  }

  /**
   * What a native dial needs to start the kernel relay itself on success (a duplicate of the
   * client's descriptor: ours stays ours until attachDescriptor).
   */
  dialRelay(idleTimeoutMs: number): DialRelay {
    return { clientFd: this.clientFd, idleTimeoutMs, onClosed: onSpliceClosed };
  }

  /** The kernel relay now holds the client's descriptor: the relay follows it. */
  private adoptSplice(spliced: RelaySplice): void {
    this.clientFd = -1;
    spliced[RELAY] = this;
    this.spliced = spliced;
    this.owner.relayStarted('splice');
    if (spliced[ENDED] === true) this.splicedClosed();
  }

  /**
   * As attach, for an upstream from the native dial (a bare descriptor, now ours): spliced as
   * well, with the proxy's bytes after its answer written to the client first. Where the kernel
   * relay cannot take it (splice(2) unavailable, or the reactor cannot watch the descriptors), the
   * JS relay over the same descriptors.
   */
  attachDescriptor(upstream: NativeUpstream, idleTimeoutMs: number): void {
    this.earlyBytes = upstream.earlyBytes;
    this.idleTimeoutMs = idleTimeoutMs;
    if (upstream.relay !== undefined) {
      // The dial relays already (dialRelay), over a duplicate of the client's descriptor.
      closeFd(this.clientFd);
      return this.adoptSplice(upstream.relay);
    }
    const spliced: RelaySplice | null = spliceDescriptors(this.clientFd, upstream.fd, idleTimeoutMs, upstream.leftover, onSpliceClosed);
    if (spliced !== null) return this.adoptSplice(spliced);
    let socket: RelaySocket;
    try {
      socket = new Socket({ fd: upstream.fd, allowHalfOpen: true, readable: true, writable: true, pauseOnCreate: true } as SocketFromFd);
    } catch {
      closeFd(upstream.fd);
      return this.reset();
    }
    if (upstream.leftover !== undefined) socket.unshift(upstream.leftover);
    this.attach(socket, idleTimeoutMs, 'js');
  }

  /** Bytes relayed client -> upstream so far. */
  get bytesUp(): number {
    return this.earlyBytes + (this.spliced !== null ? this.spliced.bytesUp : this.client !== null ? this.client.bytesRead : 0);
  }

  /** Bytes relayed upstream -> client so far. */
  get bytesDown(): number {
    return this.spliced !== null ? this.spliced.bytesDown : this.client !== null ? this.client.bytesWritten : 0;
  }

  /** Closes both sockets now; the release follows from their 'close' events (or the kernel relay's end). */
  destroy(): void {
    if (this.spliced !== null) return this.spliced.close(false);
    if (this.client === null) return this.dropDescriptor(false);
    if (this.failing) return this.resetSurvivor();
    this.client.destroy();
    this.upstream?.destroy();
  }

  /**
   * Ends the connection, cutting what is still open with a TCP reset: the client's application
   * fails fast instead of hanging, and the proxy's target does not take a cut stream for whole. A
   * side whose incoming stream was already ended cleanly (the other's end passed on behind every
   * byte, all of it in the kernel) is closed as usual: its kernel still delivers them and the FIN.
   */
  reset(): void {
    if (this.spliced !== null) return this.spliced.close(true);
    if (this.client === null) return this.dropDescriptor(true);
    if (this.failing) return this.resetSurvivor();
    for (const socket of [this.client, this.upstream]) {
      if (socket === null || socket.destroyed) continue;
      if (socket.writableFinished) socket.destroy();
      else resetSocket(socket);
    }
  }

  /** Resets whichever socket is still open (while a side's failure is passed on: the survivor), never ends it. */
  private resetSurvivor(): void {
    for (const socket of [this.client, this.upstream]) if (socket !== null && !socket.destroyed) resetSocket(socket);
  }

  /** Before attach (a dial in flight or failed): no stream, so the release is now. */
  private dropDescriptor(reset: boolean): void {
    if (this.clientFd < 0) return;
    const fd = this.clientFd;
    this.clientFd = -1;
    if (reset) resetFd(fd);
    else closeFd(fd);
    this.released = true;
    this.owner.relayReleased(this);
  }

  splicedClosed(): void {
    this.openSockets = 0;
    this.released = true;
    this.owner.relayReleased(this);
  }

  /**
   * `socket` failed (its error, or an end that was a reset): the other socket stops reading (its
   * bytes have nowhere to go) and is reset once Node and the kernel have delivered what it holds,
   * or after FAILURE_FLUSH_MS with none of it acknowledged; never ended with a FIN, which would
   * make a cut stream look whole.
   */
  failed(socket: RelaySocket): void {
    const survivor = socket === this.client ? this.upstream : this.client;
    const first = !this.failing;
    this.failing = true;
    socket.destroy();
    if (!first || survivor === null || survivor.destroyed) return;
    survivor.pause();
    // Node's idle timer counts its own writes only, not the peer's acknowledgements: the wait below bounds it instead.
    survivor.setTimeout(0);
    resetWhenDelivered(survivor, Number.POSITIVE_INFINITY, 0, Date.now() + this.idleTimeoutMs, 1);
  }

  socketClosed(socket: RelaySocket, hadError: boolean): void {
    if (--this.openSockets === 0) {
      this.released = true;
      this.owner.relayReleased(this);
      return;
    }
    if (this.failing) return;
    // A clean close means this side finished both directions (half-closes done); the other side
    // then still flushes what it has and closes on its own. Anything else takes both down.
    if (hadError || !socket.readableEnded || !socket.writableFinished) {
      this.destroy();
      return;
    }
    // The surviving upstream only flushes now; bound that too, in case its peer stops reading.
    // (A surviving client keeps the idle timer it has had since attach.)
    if (socket === this.client) {
      this.upstream!.setTimeout(this.idleTimeoutMs);
      this.upstream!.on('timeout', onIdle);
    }
  }
}

/** net.Socket's options for an existing descriptor; pauseOnCreate (Node's own, untyped) keeps it from reading before 'data' is wired. */
interface SocketFromFd extends SocketConstructorOpts {
  pauseOnCreate: boolean;
}

function onClientData(this: RelaySocket, chunk: Buffer): void {
  if (!this[RELAY]!.upstream!.write(chunk)) this.pause();
}

function onUpstreamData(this: RelaySocket, chunk: Buffer): void {
  if (!this[RELAY]!.client!.write(chunk)) this.pause();
}

function onUpstreamDrain(this: RelaySocket): void {
  this[RELAY]!.client!.resume();
}

function onClientDrain(this: RelaySocket): void {
  this[RELAY]!.upstream!.resume();
}

function onClientEnd(this: RelaySocket): void {
  if (endedByFailure(this)) return this[RELAY]!.failed(this);
  this[RELAY]!.upstream!.end();
}

function onUpstreamEnd(this: RelaySocket): void {
  if (endedByFailure(this)) return this[RELAY]!.failed(this);
  this[RELAY]!.client!.end();
}

/** An end libuv reported that was a reset read with the last bytes (socket-state.ts). */
function endedByFailure(socket: RelaySocket): boolean {
  const fd = socketDescriptor(socket);
  return fd >= 0 && takeSocketError(fd) !== 0;
}

/**
 * Resets `socket` once Node and the kernel hold nothing of its bytes, none were taken for
 * FAILURE_FLUSH_MS, or at `until` (the idle timeout after the wait began) whatever is still taken:
 * a peer opening its window a little at a time, the other side gone, would otherwise hold the
 * relay and its connection slots for as long as it liked.
 */
function resetWhenDelivered(socket: RelaySocket, before: number, deadline: number, until: number, pauseMs: number): void {
  if (socket.destroyed) return;
  const fd = socketDescriptor(socket);
  const holding = socket.writableLength + (fd >= 0 ? unacknowledgedBytes(fd) : 0);
  const now = Date.now();
  if (holding < before) deadline = Math.min(now + FAILURE_FLUSH_MS, until);
  if (holding > 0 && now < deadline) {
    setTimeout(resetWhenDelivered, pauseMs, socket, holding, deadline, until, Math.min(2 * pauseMs, FAILURE_POLL_MAX_MS));
    return;
  }
  resetSocket(socket);
}

function onIdle(this: RelaySocket): void {
  // Cut as a policy's reset is (reset(): a stream already ended cleanly keeps its FIN), as the kernel relay's idle end.
  this[RELAY]!.reset();
}

function onSocketError(this: RelaySocket): void {
  // Resets and broken pipes are normal endings of a relayed connection, passed on as such; 'close' follows.
  this[RELAY]!.failed(this);
}

function onSpliceClosed(this: RelaySplice): void {
  // The reason (null, 'idle timeout', a reset...) ends the connection like a JS socket's 'close'.
  const relay = this[RELAY];
  if (relay === undefined) this[ENDED] = true;
  else relay.splicedClosed();
}

function onSocketClose(this: RelaySocket, hadError: boolean): void {
  this[RELAY]!.socketClosed(this, hadError);
}
