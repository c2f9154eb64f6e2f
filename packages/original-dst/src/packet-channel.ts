import { binding, type PeerCredentials } from './binding.js';

/** One message and the descriptors that came with it; the receiver owns (and must close) them. */
export interface Packet {
  readonly data: Buffer;
  readonly fds: readonly number[];
}

export interface PacketHandlers {
  onPacket(packet: Packet): void;
  /** Once: the peer closed (no error), or reading failed. */
  onClose(error: Error | null): void;
}

/** The largest message either side accepts. */
export const MAX_PACKET_BYTES = 64 * 1024;

/**
 * A connected Unix SOCK_SEQPACKET socket that carries descriptors (SCM_RIGHTS): each send is one
 * message, each onPacket one whole message. Node has no SCM_RIGHTS API between unrelated
 * processes, so the socket is driven by the native addon, never by libuv's stream reader (which
 * would drop passed descriptors).
 */
export class PacketSocket {
  private watcher: { close(): void } | null;
  private closed = false;

  constructor(
    readonly peer: PeerCredentials,
    private readonly handlers: PacketHandlers,
  ) {
    this.watcher = new binding.FdWatcher(peer.fd, () => this.readAll());
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Sends one message; the descriptors are duplicated into the peer, the caller keeps its own. */
  send(data: Buffer, fds: readonly number[] = []): void {
    if (this.closed) throw new Error('PacketSocket: send on a closed channel');
    binding.sendPacket(this.peer.fd, data, fds);
  }

  close(error: Error | null = null): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    binding.closeFd(this.peer.fd);
    this.handlers.onClose(error);
  }

  private readAll(): void {
    while (!this.closed) {
      let packet: Packet | null;
      try {
        packet = binding.recvPacket(this.peer.fd, MAX_PACKET_BYTES);
      } catch (error) {
        return this.close(error as Error);
      }
      if (packet === null) return;
      if (packet.data.length === 0 && packet.fds.length === 0) return this.close(null);
      this.handlers.onPacket(packet);
    }
  }
}

export interface PacketServerOptions {
  /** File mode of the socket file, set before anyone can connect. */
  readonly mode: number;
  /** Group of the socket file; -1 keeps the creator's. */
  readonly gid: number;
}

/**
 * Listens on a Unix SOCK_SEQPACKET socket at `path` (a stale socket file is replaced) and hands
 * each connecting peer, with its kernel-checked credentials (SO_PEERCRED), to onPeer, which owns
 * peer.fd from then on (wrap it in a PacketSocket, or closeFd it).
 */
export class PacketServer {
  private readonly fd: number;
  private watcher: { close(): void } | null;
  private paused: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly path: string,
    options: PacketServerOptions,
    private readonly onPeer: (peer: PeerCredentials) => void,
    private readonly onError: (error: Error) => void,
  ) {
    this.fd = binding.seqpacketListen(path, options.mode, options.gid);
    this.watcher = this.watch();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.paused !== null) clearTimeout(this.paused);
    this.watcher?.close();
    this.watcher = null;
    binding.closeFd(this.fd);
  }

  private watch(): { close(): void } {
    return new binding.FdWatcher(this.fd, () => this.acceptAll());
  }

  private acceptAll(): void {
    while (this.watcher !== null) {
      let peer: PeerCredentials | null;
      try {
        peer = binding.seqpacketAccept(this.fd);
      } catch (error) {
        // EMFILE and the like: the peer stays queued, and the watch (level-triggered) would call
        // again at once, at every turn of the loop: watched again after a pause, as TcpAcceptor does.
        this.pause();
        return this.onError(error as Error);
      }
      if (peer === null) return;
      this.onPeer(peer);
    }
  }

  private pause(): void {
    this.watcher?.close();
    this.watcher = null;
    this.paused = setTimeout(() => {
      this.paused = null;
      if (!this.closed) this.watcher = this.watch();
    }, ACCEPT_PAUSE_MS);
  }
}

/** How long a PacketServer stops accepting after a failed accept (the native TCP acceptor's pause). */
const ACCEPT_PAUSE_MS = 100;

/** Connects to a PacketServer; the result's fd is the caller's (wrap it in a PacketSocket). */
export function connectPacketServer(path: string): PeerCredentials {
  return binding.seqpacketConnect(path);
}
