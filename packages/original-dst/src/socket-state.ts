import type { Socket } from 'node:net';
import { binding } from './binding.js';

/**
 * A connected socket's pending error (its errno; SO_ERROR, which clears it), 0 for none: whether
 * an end libuv reported was a reset (native/socket_state.cc).
 */
export function takeSocketError(fd: number): number {
  return binding.takeSocketError(fd);
}

/** Bytes the socket holds that its peer has not acknowledged yet (SIOCOUTQ): what a reset would throw away. */
export function unacknowledgedBytes(fd: number): number {
  return binding.unacknowledgedBytes(fd);
}

/**
 * Closes `socket` with a TCP reset, whatever it is doing: SO_LINGER 0 on its descriptor, then
 * destroy(). Node's resetAndDestroy() cannot while an end() is still being written (libuv refuses
 * with EINVAL, Node drops the handle unclosed, and the queued FIN goes out later).
 */
export function resetSocket(socket: Socket): void {
  const fd = socketDescriptor(socket);
  try {
    if (fd >= 0) binding.resetOnClose(fd);
  } finally {
    socket.destroy();
  }
}

/**
 * A net.Socket's descriptor (Node keeps it on its private libuv handle); -1 when it has none
 * (closed, not connected, or a TLS socket's, whose handle has no descriptor).
 */
export function socketDescriptor(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}
