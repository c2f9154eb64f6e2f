import { binding } from './binding.js';
import type { AcceptedHandler, AcceptErrorHandler, TcpAcceptor } from './native-types.js';

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
