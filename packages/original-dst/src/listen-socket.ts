import type { Server } from 'node:net';
import { binding, type SocketDescription } from './binding.js';

/**
 * A listening TCP socket on 127.0.0.1:port (SO_REUSEADDR, never SO_REUSEPORT), created with plain
 * syscalls so that no libuv handle accepts on it: the caller holds the descriptor and hands it on.
 * `transparent`: IP_TRANSPARENT, for nft's tproxy (needs CAP_NET_ADMIN); `mark`: SO_MARK, which the
 * connections it accepts inherit (needs CAP_NET_ADMIN; 0 or absent: none).
 * Throws an error whose `code` is the errno name (EADDRINUSE when another socket holds the port).
 */
export function listenLoopbackTcp(port: number, backlog: number, options: { transparent: boolean; mark?: number } = { transparent: false }): number {
  return binding.tcpListenLoopback(port, backlog, options.transparent, options.mark ?? 0);
}

/** IP_TRANSPARENT and SO_MARK `mark` (0: none) on a socket this process holds (needs CAP_NET_ADMIN); throws with the errno's `code`. */
export function setTransparent(fd: number, mark: number): void {
  binding.setTransparent(fd, mark);
}

/** What a descriptor is: socket or not, TCP, listening, SO_REUSEPORT, local address, creator uid. */
export function describeSocket(fd: number): SocketDescription {
  return binding.describeSocket(fd);
}

/** Closes a descriptor that no Node handle owns. */
export function closeFd(fd: number): void {
  binding.closeFd(fd);
}

/** A close-on-exec duplicate of `fd` (the same socket), the caller's to close; throws when none is left. */
export function dupFd(fd: number): number {
  return binding.dupFd(fd);
}

/** The descriptor of a listening net.Server (Node keeps it on its private libuv handle); null when closed. */
export function serverFd(server: Server): number | null {
  const fd = (server as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}
