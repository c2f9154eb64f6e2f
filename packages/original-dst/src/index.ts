import type { Socket } from 'node:net';
import { binding } from './binding.js';
import type { OriginalDst } from './native-types.js';
import { socketDescriptor } from './socket-state.js';

export { errorCode, type PeerCredentials, type SocketDescription } from './binding.js';
export * from './listen-socket.js';
export * from './native-types.js';
export * from './netlink.js';
export * from './packet-channel.js';
export * from './socket-state.js';
export * from './splice-relay.js';
export * from './tcp-acceptor.js';
export * from './tun.js';
export * from './udp-transparent.js';
export * from './upstream-dial.js';

/**
 * The destination the client addressed before nftables redirected or DNAT-ed the connection
 * to us (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST). For a connection conntrack tracked but did
 * not NAT, this is the socket's own local address; for one conntrack never saw, it throws
 * (errno ENOENT). Throws when the socket has no file descriptor (not connected, or closed).
 */
export function getOriginalDst(socket: Socket): OriginalDst {
  const fd = socketDescriptor(socket);
  if (fd < 0) {
    throw new Error('getOriginalDst: socket has no file descriptor (not connected, destroyed, or not a TCP socket)');
  }
  return binding.getOriginalDst(fd);
}

export interface KeepaliveTimers {
  /** Seconds of silence before the first probe. */
  readonly idleS: number;
  /** Seconds between unanswered probes. */
  readonly intervalS: number;
  /** Unanswered probes after which the kernel ends the connection with ETIMEDOUT. */
  readonly count: number;
}

/**
 * TCP keepalive with all three timers (Node's setKeepAlive sets only the idle time; libuv keeps
 * 10 probes 1 s apart). A connected socket is required: call it on 'connect'.
 */
export function setTcpKeepalive(socket: Socket, timers: KeepaliveTimers): void {
  const fd = socketDescriptor(socket);
  if (fd < 0) throw new Error('setTcpKeepalive: socket has no file descriptor (not connected or destroyed)');
  binding.setTcpKeepalive(fd, timers.idleS, timers.intervalS, timers.count);
}
