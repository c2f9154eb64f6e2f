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
