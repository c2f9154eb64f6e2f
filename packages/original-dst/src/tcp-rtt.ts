import { binding } from './binding.js';

/**
 * The smallest round-trip time the kernel has measured on a connected TCP socket, in microseconds
 * (TCP_INFO tcpi_min_rtt): the path's own delay, whatever the peer's load. null while the kernel
 * has no sample. Throws with the errno's `code` for a descriptor that is not a TCP socket.
 */
export function tcpMinRttUs(fd: number): number | null {
  return binding.tcpMinRttUs(fd);
}
