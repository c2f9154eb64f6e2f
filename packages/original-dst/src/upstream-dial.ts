import type { Socket } from 'node:net';
import { binding } from './binding.js';
import { onDuplicates } from './duplicates.js';

/**
 * One exchange of a native dial (native/upstream_dial.cc): its request, written when the stage
 * starts (null: an earlier write carried it), and the shape of the only answer accepted here.
 * kind 0: two fixed bytes (expect0/expect1; -1 any), 1: a SOCKS5 success reply, 2: an HTTP/1.x 2xx head.
 */
export interface NativeDialStage {
  readonly request: Buffer | null;
  readonly kind: 0 | 1 | 2;
  readonly expect0: number;
  readonly expect1: number;
}

/**
 * Why a native dial ended without a tunnel: the TCP connect failed (`connect`, errno), a send or
 * receive failed (`io`, errno), the proxy closed, the timeout, or an answer other than the success
 * one (`answer`). `bytes`: what the stage `stage` received (its answer so far); `connecting`: the
 * TCP connection was not up yet.
 */
export interface NativeDialFailure {
  readonly what: 'connect' | 'io' | 'closed' | 'timeout' | 'answer';
  readonly errno: number;
  readonly stage: number;
  readonly bytes: Buffer;
  readonly connecting: boolean;
}

/**
 * Called once, asynchronously: failure null with `fd` the connected upstream (now the caller's),
 * `leftover` the bytes after the last answer (the target's first, for the client) and
 * `earlyBytes` how many of the client's bytes went with the CONNECT (see EarlyData); or a failure
 * with fd -1 (the dial's socket is closed).
 */
export type NativeDialDone = (this: NativeDial, failure: NativeDialFailure | null, fd: number, leftover: Buffer | undefined, earlyBytes: number) => void;

/**
 * The client's socket (a descriptor the caller keeps, open until the dial ends) whose bytes so far
 * go out with the request carrying the CONNECT, read without waiting: SOCKS5 early data, for a
 * proxy known to keep bytes sent before its reply. -1: none.
 */
export type EarlyData = number;

export interface NativeDial {
  /** Ends the dial now, closing its socket; onDone is not called. */
  cancel(): void;
}

/** How a new connection's dial goes beyond its stages. */
export interface NewDialOptions {
  /** The client's bytes with the CONNECT (see EarlyData); -1 or absent: none. */
  readonly earlyFd?: EarlyData;
  /**
   * TCP Fast Open: the first stage's request in the SYN where the proxy's host has given this host
   * a cookie (the kernel asks for one otherwise); the client's early bytes never go in the SYN.
   */
  readonly fastOpen?: boolean;
}

/** Connects to `address` (an IPv4/IPv6 literal) and runs `stages`; throws only for bad input or no descriptor left. */
export function dialNative(address: string, port: number, stages: readonly NativeDialStage[], timeoutMs: number, onDone: NativeDialDone, options: NewDialOptions = {}): NativeDial {
  return new binding.UpstreamDial(-1, address, port, stages, timeoutMs, onDone, options.earlyFd ?? -1, options.fastOpen ?? false);
}

interface HandleSocket extends Socket {
  _handle?: { fd?: number } | null;
}

/**
 * Runs `stages` on a connected net.Socket (a warm connection) in the addon, and destroys the
 * socket (the dial takes a duplicate of its descriptor, so nothing is sent or closed on the
 * wire). null, touching nothing, when it cannot be handed over: no plain descriptor, bytes read or
 * writes queued in Node, or no descriptor left for the duplicate.
 */
export function dialNativeOn(socket: Socket, stages: readonly NativeDialStage[], timeoutMs: number, onDone: NativeDialDone): NativeDial | null {
  const fd = (socket as HandleSocket)._handle?.fd;
  if (typeof fd !== 'number' || fd < 0 || socket.readableLength > 0 || socket.writableLength > 0) return null;
  const dial = onDuplicates([fd], ([copy]) => new binding.UpstreamDial(copy!, null, 0, stages, timeoutMs, onDone, -1, false));
  if (dial === null) return null;
  socket.on('error', ignore);
  socket.destroy();
  return dial;
}

/**
 * As dialNativeOn for a bare connected descriptor (a warm connection kept as one): `fd` becomes
 * the dial's, no duplicate. Throws, `fd` still the caller's, when the dial cannot start.
 */
export function dialNativeOnFd(fd: number, stages: readonly NativeDialStage[], timeoutMs: number, onDone: NativeDialDone, earlyFd: EarlyData = -1): NativeDial {
  return new binding.UpstreamDial(fd, null, 0, stages, timeoutMs, onDone, earlyFd, false);
}

/**
 * Calls onReadable each time `fd` turns readable or hung up, until close() (which leaves `fd`
 * open): a connection from a native dial waiting for the next one (native/descriptor_watch.cc).
 */
export function watchDescriptor(fd: number, onReadable: () => void): { close(): void } {
  return new binding.DescriptorWatch(fd, onReadable);
}

function ignore(): void {}
