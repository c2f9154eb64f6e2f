import { binding } from './binding.js';

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

/**
 * Accepts on a listening TCP socket without a net.Server, handing descriptors instead of
 * net.Sockets (native/tcp_acceptor.cc): the forwarder's client side needs no stream until its
 * relay. The descriptor becomes the acceptor's; listen() is called again with `backlog`.
 */
export function acceptTcp(listenFd: number, backlog: number, onAccepted: AcceptedHandler, onError: AcceptErrorHandler): TcpAcceptor {
  return new binding.TcpAcceptor(listenFd, backlog, onAccepted, onError);
}

/** Closes a connected socket's descriptor with a TCP reset (SO_LINGER 0), as net.Socket.resetAndDestroy. */
export function resetFd(fd: number): void {
  binding.resetFd(fd);
}
