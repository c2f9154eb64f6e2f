import type { Socket } from 'node:net';
import { binding } from './binding.js';
import { onDuplicates } from './duplicates.js';
import type { DialRelay, NativeDial, NativeDialDone, NativeDialStage } from './native-types.js';
import { socketDescriptor } from './socket-state.js';

/**
 * The client's socket (a descriptor the caller keeps, open until the dial ends) whose bytes so far
 * go out with the request carrying the CONNECT, read without waiting: SOCKS5 early data, for a
 * proxy known to keep bytes sent before its reply. -1: none.
 */
export type EarlyData = number;

/** How a new connection's dial goes beyond its stages. */
export interface NewDialOptions {
  /** The client's bytes with the CONNECT (see EarlyData); -1 or absent: none. */
  readonly earlyFd?: EarlyData;
  /**
   * TCP Fast Open: the first stage's request in the SYN where the proxy's host has given this host
   * a cookie (the kernel asks for one otherwise); the client's early bytes never go in the SYN.
   */
  readonly fastOpen?: boolean;
  /**
   * A connection nobody waits for (a warm pool's refill): socket() and connect() (with Fast Open,
   * the SYN's send) run on the addon's idle connector thread at SCHED_IDLE, not on this thread
   * (native/idle_connector.h); the exchanges go on here as usual. Ignored with earlyFd.
   */
  readonly idle?: boolean;
  /** On success the dial starts the splice relay itself (see DialRelay); absent: it hands the upstream over. */
  readonly relay?: DialRelay;
}

/** Connects to `address` (an IPv4/IPv6 literal) and runs `stages`; throws only for bad input or no descriptor left. */
export function dialNative(address: string, port: number, stages: readonly NativeDialStage[], timeoutMs: number, onDone: NativeDialDone, options: NewDialOptions = {}): NativeDial {
  return new binding.UpstreamDial(-1, address, port, stages, timeoutMs, onDone, options.earlyFd ?? -1, options.fastOpen ?? false, options.idle ?? false, options.relay);
}

/**
 * Runs `stages` on a connected net.Socket (a warm connection) in the addon, and destroys the
 * socket (the dial takes a duplicate of its descriptor, so nothing is sent or closed on the
 * wire). null, touching nothing, when it cannot be handed over: no plain descriptor, bytes read or
 * writes queued in Node, or no descriptor left for the duplicate.
 */
export function dialNativeOn(socket: Socket, stages: readonly NativeDialStage[], timeoutMs: number, onDone: NativeDialDone): NativeDial | null {
  const fd = socketDescriptor(socket);
  if (fd < 0 || socket.readableLength > 0 || socket.writableLength > 0) return null;
  const dial = onDuplicates([fd], ([copy]) => new binding.UpstreamDial(copy!, null, 0, stages, timeoutMs, onDone, -1, false, false, undefined));
  if (dial === null) return null;
  socket.on('error', ignore);
  socket.destroy();
  return dial;
}

/**
 * As dialNativeOn for a bare connected descriptor (a warm connection kept as one): `fd` becomes
 * the dial's, no duplicate; `relay` as in NewDialOptions. Throws, `fd` still the caller's, when the dial cannot start.
 */
export function dialNativeOnFd(fd: number, stages: readonly NativeDialStage[], timeoutMs: number, onDone: NativeDialDone, earlyFd: EarlyData = -1, relay?: DialRelay): NativeDial {
  return new binding.UpstreamDial(fd, null, 0, stages, timeoutMs, onDone, earlyFd, false, false, relay);
}

/**
 * Calls onReadable each time `fd` turns readable or hung up, until close() (which leaves `fd`
 * open): a connection from a native dial waiting for the next one (native/descriptor_watch.cc).
 */
export function watchDescriptor(fd: number, onReadable: () => void): { close(): void } {
  return new binding.DescriptorWatch(fd, onReadable);
}

function ignore(): void {}
