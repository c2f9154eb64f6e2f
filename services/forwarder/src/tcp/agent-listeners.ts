import {
  type AgentMessage,
  agentMessageSchema,
  chunkPorts,
  type ForwarderMessageInput,
  LISTENER_PROTOCOL_VERSION,
  parseListenerMessage,
} from '@pgw/domain';
import type { Logger } from '@pgw/log';
import { closeFd, connectPacketServer, type Packet, PacketSocket } from '@pgw/original-dst';

/** A port's listening socket from the agent (the descriptor is the caller's), or why there is none. */
export type PortSocket = { readonly fd: number } | { readonly reason: string };

export interface AgentListenersOptions {
  readonly path: string;
  /** The sockets this forwarder holds (port -> descriptor), handed back on every (re)connect. */
  inventory(): ReadonlyMap<number, number>;
  /**
   * The agent did not take these sockets back (a restarted agent whose state lacks the port, or a
   * socket it does not accept): it closed its copy, so the port is held here alone and its client
   * stays blocked until the forwarder lets go of it and asks for it anew. Called before onConnected.
   */
  handbackRefused(ports: readonly number[]): void;
  /** Called once connected (and after each reconnect): a good moment to open what is missing. */
  onConnected(): void;
}

/** How long the agent may take to answer one message. */
const ANSWER_TIMEOUT_MS = 5_000;
/**
 * Reconnect attempts while the agent is away: at boot the forwarder is often ready before the agent
 * serves its socket (bench:reboot: by 0.1-0.6 s), and after an agent restart (one to three seconds)
 * the clients of the sockets this forwarder holds stay blocked until it hands them back, so the
 * wait after the agent is up must stay short: every 20 ms for the first 2 s, then every 100 ms. A
 * refused connect() on a Unix socket costs microseconds.
 */
const RECONNECT_FAST_MS = 20;
const RECONNECT_FAST_ATTEMPTS = 100;
const RECONNECT_SLOW_MS = 100;
/**
 * Sessions the agent ends before answering anything (a peer of another protocol version, a uid it
 * does not serve) are retried after 20 ms doubled per such session in a row, up to a second: at
 * 20 ms each cost a warning on both sides and a full reconcile, 50 times a second, for as long as
 * it lasted.
 */
const UNANSWERED_BACKOFF_MAX_MS = 1_000;
/** A port the agent does not serve yet (a mapping it has not applied): asked again this soon. */
const RETRY_MS = [100, 250] as const;

interface Pending {
  resolve(message: AgentMessage, fds: readonly number[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * The forwarder's end of the listener protocol: the agent (root) creates and holds the listening
 * socket of every mapped port; the forwarder asks for the ones it has mappings for and listens on
 * its duplicates. A peer that is not root is not the agent and is refused.
 */
export class AgentListeners {
  private session: PacketSocket | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private attempt = 0;
  /** Sessions in a row the agent ended before its first answer; whether the one open has answered. */
  private unanswered = 0;
  private answered = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastError = '';

  constructor(
    private readonly options: AgentListenersOptions,
    private readonly logger: Logger,
  ) {}

  get connected(): boolean {
    return this.session?.isOpen ?? false;
  }

  /** Connects now (and keeps reconnecting while the agent is away). */
  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.session?.close();
  }

  /**
   * The listening sockets of these ports. Ports the agent refuses are asked again a few times
   * within ~350 ms (it may not have applied a new mapping yet); what stays refused is returned
   * with the agent's reason, and asked again on the forwarder's next apply.
   */
  async acquire(ports: readonly number[]): Promise<Map<number, PortSocket>> {
    const result = new Map<number, PortSocket>();
    let missing = [...ports];
    for (let attempt = 0; missing.length > 0; attempt++) {
      for (const chunk of chunkPorts(missing)) {
        for (const [port, socket] of await this.request(chunk)) result.set(port, socket);
      }
      missing = missing.filter((port) => !('fd' in result.get(port)!));
      const delay = RETRY_MS[attempt];
      // Not after a full grant: that wait was on the path of every listener opened (a boot's included).
      if (missing.length === 0 || delay === undefined || !this.connected) break;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    return result;
  }

  private async request(ports: readonly number[]): Promise<Map<number, PortSocket>> {
    const out = new Map<number, PortSocket>();
    if (!this.connected) {
      for (const port of ports) out.set(port, { reason: `the agent is not reachable on ${this.options.path}${this.lastError ? ` (${this.lastError})` : ''}` });
      return out;
    }
    let answer: { message: AgentMessage; fds: readonly number[] };
    try {
      answer = await this.send({ v: LISTENER_PROTOCOL_VERSION, type: 'request', id: this.nextId++, ports: [...ports] }, []);
    } catch (error) {
      for (const port of ports) out.set(port, { reason: `the agent did not answer: ${(error as Error).message}` });
      return out;
    }
    const { message, fds } = answer;
    if (message.type !== 'sockets' || fds.length !== message.granted.length) {
      for (const fd of fds) closeFd(fd);
      this.session?.close(new Error('listener protocol: the agent answered a request with something else'));
      for (const port of ports) out.set(port, { reason: 'the agent answered with something else' });
      return out;
    }
    message.granted.forEach((port, i) => out.set(port, { fd: fds[i]! }));
    for (const { port, reason } of message.refused) out.set(port, { reason });
    for (const port of ports) if (!out.has(port)) out.set(port, { reason: 'the agent did not answer for this port' });
    return out;
  }

  private send(message: ForwarderMessageInput, fds: readonly number[]): Promise<{ message: AgentMessage; fds: readonly number[] }> {
    const session = this.session!;
    return new Promise((resolve, reject) => {
      const id = message.id;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      this.pending.set(id, { resolve: (m, f) => resolve({ message: m, fds: f }), reject, timer });
      try {
        session.send(Buffer.from(JSON.stringify(message)), fds);
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error as Error);
      }
    });
  }

  private connect(): void {
    if (this.stopped) return;
    try {
      const peer = connectPacketServer(this.options.path);
      if (peer.uid !== 0) {
        closeFd(peer.fd);
        throw new Error(`the peer on ${this.options.path} runs as uid ${peer.uid}, not root: it is not the agent`);
      }
      this.session = new PacketSocket(peer, { onPacket: (packet) => this.onPacket(packet), onClose: (error) => this.onClose(error) });
    } catch (error) {
      this.lastError = (error as Error).message;
      if (this.attempt === 0) this.logger.warn('cannot reach the agent for listening sockets, retrying', { path: this.options.path, error: this.lastError });
      this.scheduleReconnect();
      return;
    }
    if (this.attempt > 0) this.logger.info('reached the agent for listening sockets again', { path: this.options.path });
    this.attempt = 0;
    this.answered = false;
    this.lastError = '';
    this.handBackThenRun([...this.options.inventory()]);
  }

  /**
   * Hands `sockets` (port, descriptor) back, then runs (a socket the agent refused back is closed
   * here and asked for anew): every socket at a (re)connect, or those the agent asked for.
   */
  private handBackThenRun(sockets: readonly (readonly [number, number])[]): void {
    const session = this.session;
    // Not for a session the agent has ended meanwhile: the next one reconciles.
    void this.handBack(sockets).finally(() => this.session === session && this.options.onConnected());
  }

  /** After an agent restart the sockets are only in this process: the new agent adopts them. */
  private async handBack(sockets: readonly (readonly [number, number])[]): Promise<void> {
    const refused: number[] = [];
    for (const chunk of chunkPorts(sockets)) {
      try {
        const { message } = await this.send({ v: LISTENER_PROTOCOL_VERSION, type: 'handback', id: this.nextId++, ports: chunk.map(([port]) => port) }, chunk.map(([, fd]) => fd));
        if (message.type !== 'handback_result' || message.refused.length === 0) continue;
        this.logger.warn('the agent refused handed-back sockets: they are closed here and asked for anew', { refused: message.refused });
        refused.push(...message.refused.map(({ port }) => port));
      } catch (error) {
        // The next chunks are still offered: each port the agent takes back unblocks its client.
        this.logger.warn('cannot hand listening sockets back to the agent', { ports: chunk.length, error: (error as Error).message });
      }
    }
    if (refused.length > 0) this.options.handbackRefused(refused);
  }

  private onPacket(packet: Packet): void {
    let message: AgentMessage;
    try {
      message = parseListenerMessage(agentMessageSchema, packet.data);
    } catch (error) {
      for (const fd of packet.fds) closeFd(fd);
      return this.session?.close(error as Error);
    }
    this.answered = true;
    this.unanswered = 0;
    if (message.type === 'handback_wanted') {
      for (const fd of packet.fds) closeFd(fd);
      const wanted = new Set<number>(message.ports);
      const held = [...this.options.inventory()].filter(([port]) => wanted.has(port));
      // None of ours (another root socket holds them): nothing to hand back, the agent asks again later.
      if (held.length === 0) return;
      this.logger.info('the agent asked for listening sockets back', { ports: held.map(([port]) => port) });
      return this.handBackThenRun(held);
    }
    const pending = this.pending.get(message.id);
    if (pending === undefined) {
      // An answer after its timeout: nobody waits for these descriptors.
      for (const fd of packet.fds) closeFd(fd);
      return;
    }
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    pending.resolve(message, packet.fds);
  }

  private onClose(error: Error | null): void {
    this.session = null;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error('the agent closed the listener socket'));
      this.pending.delete(id);
    }
    if (this.stopped) return;
    this.lastError = error?.message ?? 'the agent closed the connection';
    if (!this.answered) this.unanswered++;
    // Once per run of unanswered sessions: the warning of the first says what goes on.
    if (this.unanswered <= 1) this.logger.warn('lost the agent listener socket, reconnecting', { error: this.lastError, ...(this.unanswered === 1 ? { answered: false } : {}) });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const normal = this.attempt < RECONNECT_FAST_ATTEMPTS ? RECONNECT_FAST_MS : RECONNECT_SLOW_MS;
    const delay = this.unanswered > 0 ? Math.min(UNANSWERED_BACKOFF_MAX_MS, RECONNECT_FAST_MS * 2 ** this.unanswered) : normal;
    this.attempt++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }
}
