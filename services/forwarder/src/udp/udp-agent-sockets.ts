import {
  parseListenerMessage,
  UDP_SOCKET_PROTOCOL_VERSION,
  type UdpAgentMessage,
  udpAgentMessageSchema,
  type UdpForwarderMessageInput,
  udpForwarderMessageSchema,
  udpSocketPath,
} from '@pgw/domain';
import type { Logger } from '@pgw/log';
import { closeFd, connectPacketServer, type Packet, PacketSocket } from '@pgw/original-dst';

/**
 * A socket from the agent, or why not: `transient` where the agent was not asked or did not answer
 * (a restart, a timeout), so that asking again later may get one; otherwise the agent's own refusal.
 */
export type UdpSocketGrant = { readonly fd: number } | { readonly reason: string; readonly transient?: true };

/** How long the agent may take to answer. */
const ANSWER_TIMEOUT_MS = 2_000;
const RECONNECT_MS = 250;
/**
 * Asks sent and not yet answered, at most: each answer waits in the channel until this process
 * reads it, and the channel holds about 280 (the agent's send buffer); a burst of new flows beyond
 * that (a DNS storm) failed here with EAGAIN, or there, where it cost the channel. The rest wait
 * their turn, in order, up to MAX_WAITING.
 */
const MAX_IN_FLIGHT = 128;
const MAX_WAITING = 8_192;
/** After a send the channel refused with nothing in flight to wake the queue. */
const RETRY_MS = 10;

interface Pending {
  resolve(grant: UdpSocketGrant): void;
  timer: NodeJS.Timeout;
}

const UNREACHABLE: UdpSocketGrant = { reason: 'the agent is not reachable for UDP sockets', transient: true };
const TIMED_OUT: UdpSocketGrant = { reason: `the agent did not answer within ${ANSWER_TIMEOUT_MS} ms`, transient: true };

interface Waiting {
  message: UdpForwarderMessageInput & { id: number };
  resolve(grant: UdpSocketGrant): void;
  /** performance.now() when it was asked. */
  since: number;
}

/**
 * The forwarder's end of the UDP socket protocol (@pgw/domain udp-socket-protocol): the agent
 * (root, CAP_NET_ADMIN) makes the transparent UDP sockets, this process holds no capability and
 * only reads and writes them. A peer that is not root is not the agent and is refused.
 */
export class UdpAgentSockets {
  private session: PacketSocket | null = null;
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: Waiting[] = [];
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private warned = false;

  constructor(
    private readonly listenerSocket: string,
    /** Called on each (re)connect: the moment to ask for the tproxy socket. */
    private readonly onConnected: () => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    this.session?.close();
  }

  /** The socket nft's tproxy feeds with the clients' datagrams. */
  tproxySocket(): Promise<UdpSocketGrant> {
    return this.ask({ v: UDP_SOCKET_PROTOCOL_VERSION, type: 'tproxy_socket', id: this.nextId++ });
  }

  /** A socket bound to `destination` and connected to `client`: the flow's answers from `destination`. */
  replySocket(client: { ip: string; port: number }, destination: { ip: string; port: number }): Promise<UdpSocketGrant> {
    return this.ask({ v: UDP_SOCKET_PROTOCOL_VERSION, type: 'reply_socket', id: this.nextId++, client, destination });
  }

  private ask(message: UdpForwarderMessageInput & { id: number }): Promise<UdpSocketGrant> {
    // A message the agent would refuse costs the channel (it closes on one: every client's pending
    // asks with it), so it is refused here, for this flow only.
    const checked = udpForwarderMessageSchema.safeParse(message);
    if (!checked.success) return Promise.resolve({ reason: `not a UDP socket request the agent takes: ${checked.error.issues[0]?.message ?? 'invalid'}` });
    if (this.session === null || !this.session.isOpen) return Promise.resolve(UNREACHABLE);
    return new Promise((resolve) => {
      if (this.waiting.length >= MAX_WAITING) return resolve({ reason: `${MAX_WAITING} UDP socket requests already wait for the agent`, transient: true });
      this.waiting.push({ message, resolve, since: performance.now() });
      this.sendWaiting();
    });
  }

  /** Sends one ask; false when the channel refused it (that ask is answered as failed). */
  private send({ message, resolve }: Waiting): boolean {
    const session = this.session;
    if (session === null || !session.isOpen) {
      resolve(UNREACHABLE);
      return true;
    }
    const timer = setTimeout(() => {
      this.pending.delete(message.id);
      resolve(TIMED_OUT);
      this.sendWaiting();
    }, ANSWER_TIMEOUT_MS);
    this.pending.set(message.id, { resolve, timer });
    try {
      session.send(Buffer.from(JSON.stringify(message)));
      return true;
    } catch (error) {
      clearTimeout(timer);
      this.pending.delete(message.id);
      resolve({ reason: `cannot ask the agent: ${(error as Error).message}`, transient: true });
      return false;
    }
  }

  /**
   * Asks in order while fewer than MAX_IN_FLIGHT are unanswered. One that waited longer than an
   * answer may take is answered as timed out, unsent (its flow has retried or gone by then). A
   * refused send ends the round, the rest wait: for the next answer, or a retry shortly.
   */
  private sendWaiting(): void {
    while (this.waiting.length > 0 && this.pending.size < MAX_IN_FLIGHT) {
      const next = this.waiting.shift()!;
      if (performance.now() - next.since > ANSWER_TIMEOUT_MS) {
        next.resolve(TIMED_OUT);
        continue;
      }
      if (!this.send(next)) {
        if (this.pending.size === 0) this.retry ??= setTimeout(() => ((this.retry = undefined), this.sendWaiting()), RETRY_MS).unref();
        return;
      }
    }
  }

  private connect(): void {
    if (this.stopped) return;
    const path = udpSocketPath(this.listenerSocket);
    try {
      const peer = connectPacketServer(path);
      if (peer.uid !== 0) {
        closeFd(peer.fd);
        throw new Error(`the peer on ${path} runs as uid ${peer.uid}, not root: it is not the agent`);
      }
      this.session = new PacketSocket(peer, { onPacket: (packet) => this.onPacket(packet), onClose: () => this.onClose() });
    } catch (error) {
      if (!this.warned) this.logger.warn('cannot reach the agent for UDP sockets, retrying', { path, error: (error as Error).message });
      this.warned = true;
      this.timer = setTimeout(() => this.connect(), RECONNECT_MS).unref();
      return;
    }
    this.warned = false;
    this.onConnected();
  }

  private onPacket(packet: Packet): void {
    let message: UdpAgentMessage;
    try {
      message = parseListenerMessage(udpAgentMessageSchema, packet.data);
      if (packet.fds.length !== (message.type === 'socket' ? 1 : 0)) throw new Error(`UDP socket protocol: ${message.type} with ${packet.fds.length} descriptors`);
    } catch (error) {
      for (const fd of packet.fds) closeFd(fd);
      return this.session?.close(error as Error);
    }
    const pending = this.pending.get(message.id);
    if (pending === undefined) {
      for (const fd of packet.fds) closeFd(fd); // answered after its timeout
      return;
    }
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    pending.resolve(message.type === 'socket' ? { fd: packet.fds[0]! } : { reason: message.reason });
    this.sendWaiting();
  }

  private onClose(): void {
    this.session = null;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.resolve({ reason: 'the agent closed the UDP socket channel', transient: true });
      this.pending.delete(id);
    }
    for (const waiting of this.waiting.splice(0)) waiting.resolve({ reason: 'the agent closed the UDP socket channel', transient: true });
    if (this.stopped) return;
    this.timer = setTimeout(() => this.connect(), RECONNECT_MS).unref();
  }
}
