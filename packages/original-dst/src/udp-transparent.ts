import { binding } from './binding.js';
import type { TransparentDatagram } from './native-types.js';

export interface TransparentUdpOptions {
  /** IP_RECVORIGDSTADDR: each datagram read carries its original destination (the tproxy socket). */
  readonly recvOrigDst: boolean;
  /** The peer the socket answers (a reply socket and its client); no bound on whoever holds it, `mark` is. */
  readonly connect?: { readonly address: string; readonly port: number };
  /**
   * SO_MARK on every datagram it sends (1..0xffffffff): the holder of the socket (the forwarder)
   * cannot change it, so the ruleset can confine them (the agent's AGENT_SOCKET_MARK).
   */
  readonly mark: number;
  /** Bytes of receive buffer (SO_RCVBUFFORCE, up to 64 MiB); absent: the kernel's default. */
  readonly receiveBuffer?: number;
}

/**
 * An IPv4 UDP socket with IP_TRANSPARENT bound to address:port, which need not be the host's
 * (needs CAP_NET_ADMIN: the agent creates these and hands them over), marked. Non-blocking;
 * SO_REUSEADDR only for a connected (reply) socket. Throws with the errno's `code`.
 */
export function transparentUdpSocket(address: string, port: number, options: TransparentUdpOptions): number {
  return binding.udpTransparentSocket(address, port, options.recvOrigDst, options.connect?.address ?? null, options.connect?.port ?? 0, options.mark, options.receiveBuffer ?? 0);
}

/**
 * Reads every queued datagram of a transparent UDP descriptor whenever it is readable, until
 * close() (which leaves the descriptor open: the caller owns it). A read error ends the reading.
 */
export class TransparentUdpReader {
  private watcher: { close(): void } | null;

  constructor(
    readonly fd: number,
    onDatagram: (datagram: TransparentDatagram) => void,
    onError: (error: Error) => void,
    /** At most this many datagrams per wakeup, so one busy socket cannot starve the event loop. */
    burst = 64,
  ) {
    this.watcher = new binding.FdWatcher(fd, () => {
      for (let i = 0; i < burst && this.watcher !== null; i++) {
        let datagram: TransparentDatagram | null;
        try {
          datagram = binding.udpRecv(fd);
        } catch (error) {
          this.close();
          return onError(error as Error);
        }
        if (datagram === null) return;
        onDatagram(datagram);
      }
    });
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
  }
}

/** Sends on a connected transparent UDP socket; false when its buffer is full (dropped). */
export function sendTransparentUdp(fd: number, data: Buffer): boolean {
  return binding.udpSend(fd, data);
}
