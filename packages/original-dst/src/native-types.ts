// The shapes of what the native addon hands out (native/*.cc), apart from the wrappers that use
// them: binding.ts types the addon with them and every wrapper imports them, so no wrapper and the
// binding import each other.

export interface OriginalDst {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/**
 * A connection accepted by a TcpAcceptor, called with the acceptor as `this`: its descriptor (now
 * the caller's: non-blocking, TCP_NODELAY, keepalive 60 s), the peer's address, the destination it
 * had before nftables redirected it (SO_ORIGINAL_DST; null with dstPortOrErrno the errno when
 * there is none, e.g. ENOENT: not NAT-ed) and the socket's own address. Addresses are as Node
 * reports them (an IPv4 peer of a dual-stack socket is "::ffff:a.b.c.d").
 */
export type AcceptedHandler = (
  this: TcpAcceptor,
  fd: number,
  peerAddress: string | null,
  dstAddress: string | null,
  dstPortOrErrno: number,
  localAddress: string | null,
  localPort: number,
) => void;

/** accept(2) failed for want of descriptors or memory (EMFILE...): accepting pauses 100 ms. */
export type AcceptErrorHandler = (this: TcpAcceptor, error: Error) => void;

export interface TcpAcceptor {
  /** The listening descriptor; null once closed. */
  readonly fd: number | null;
  /** Stops accepting and closes the listening descriptor (queued connections go with it, as net.Server.close). */
  close(): void;
}

/** A connection whose bytes the kernel moves (splice(2)); see native/splice_relay.cc. */
export interface SplicedRelay {
  /** Bytes delivered client -> upstream and upstream -> client so far. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Ends the relay now (reset: the client gets a TCP reset); onClosed follows asynchronously. */
  close(reset: boolean): void;
}

/** Why the relay ended: null when both directions finished cleanly (each FIN relayed and flushed). */
export type SpliceClosed = (this: SplicedRelay, reason: string | null) => void;

/** One datagram read from a transparent UDP socket (native/udp_transparent.cc). */
export interface TransparentDatagram {
  readonly data: Buffer;
  /** Longer than 65507 bytes and cut (cannot happen over IPv4; counted, not relayed). */
  readonly truncated: boolean;
  /** The sender (a LAN client). */
  readonly address: string;
  readonly port: number;
  /** Where the client sent it: the original destination nft's tproxy kept. */
  readonly dstAddress: string;
  readonly dstPort: number;
}

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
 * `earlyBytes` how many of the client's bytes went with the CONNECT (see EarlyData); or, for a
 * dial asked to relay (DialRelay), `relay` the relay it started, fd -1 and leftover undefined (the
 * relay wrote them); or a failure with fd -1 (the dial's socket is closed).
 */
export type NativeDialDone = (
  this: NativeDial,
  failure: NativeDialFailure | null,
  fd: number,
  leftover: Buffer | undefined,
  earlyBytes: number,
  relay: SplicedRelay | undefined,
) => void;

/**
 * The splice relay a dial starts itself once the proxy's answer is judged, so that the client's
 * first bytes go up with no JavaScript between (native/upstream_dial.cc). It relays a duplicate of
 * `clientFd`: the caller's descriptor stays the caller's, to close once it has the relay.
 */
export interface DialRelay {
  readonly clientFd: number;
  readonly idleTimeoutMs: number;
  readonly onClosed: SpliceClosed;
}

export interface NativeDial {
  /** Ends the dial now, closing its socket, and the relay it started if any; onDone is not called. */
  cancel(): void;
}
