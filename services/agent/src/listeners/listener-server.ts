import { readFileSync } from 'node:fs';
import {
  type AgentMessageInput,
  agentMessageSchema,
  chunkPorts,
  type ForwarderMessage,
  forwarderMessageSchema,
  LISTENER_PROTOCOL_VERSION,
  parseListenerMessage,
} from '@pgw/domain';
import type { Logger } from '@pgw/log';
import {
  closeFd,
  describeSocket,
  listenLoopbackTcp,
  type Packet,
  type PacketSocket,
  setTransparent,
} from '@pgw/original-dst';
import { AGENT_SOCKET_MARK } from './agent-socket-mark.js';
import { serveForwarderOnly } from './forwarder-only-server.js';
import { HandbackAsks } from './handback-asks.js';
import type { ListenerRegistry, ListenerSyscalls } from './listener-registry.js';
import { uidsBoundToPort } from './listener-proc.js';
import { gidFromPasswd, uidFromPasswd } from './passwd.js';

/** Queued connections per mapped port while no forwarder accepts (a restart): the kernel completes their handshakes. */
export const LISTEN_BACKLOG = 1024;

/** The real syscalls: the native addon and /proc/net/tcp{,6} of the agent's network namespace. */
export const nativeListenerSyscalls: ListenerSyscalls = {
  // Transparent in every mode (the agent has CAP_NET_ADMIN): a switch to TPROXY mode needs no new
  // sockets. Marked, as every socket the agent hands the forwarder (agent-socket-mark.ts).
  listen: (port) => listenLoopbackTcp(port, LISTEN_BACKLOG, { transparent: true, mark: AGENT_SOCKET_MARK }),
  makeTransparent: (fd) => setTransparent(fd, AGENT_SOCKET_MARK),
  describe: describeSocket,
  close: closeFd,
  uidsBoundToPort: (port) => ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) => uidsBoundToPort(readProc(file), port)),
};

function readProc(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return ''; // no IPv6 in this namespace
  }
}

/** uid and gid of a system user from /etc/passwd; the error names the variable that names the user. */
export function systemUser(variable: string, name: string): { uid: number; gid: number } {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  try {
    return { uid: uidFromPasswd(passwd, name), gid: gidFromPasswd(passwd, name) };
  } catch (error) {
    throw new Error(`${variable}: ${(error as Error).message}`);
  }
}

export interface ListenerServerOptions {
  readonly path: string;
  /** Only a peer with this uid (SO_PEERCRED) gets descriptors. */
  readonly forwarderUid: number;
  /** The socket file is 0660, of this group: only the forwarder's group may even connect. */
  readonly forwarderGid: number;
  /** Sockets were adopted: their clients, blocked until now, can be unblocked by a reconcile. */
  onAdopted(): void;
  /** The forwarder's request or handback was answered: main.ts loads the heavy modules only then. */
  onAnswered(): void;
}

export interface ListenerServer {
  close(): void;
  /** Asks the forwarder to hand back the sockets of these ports it holds (handback_wanted). */
  askHandback(ports: readonly number[]): void;
}

/**
 * The agent's end of the listener protocol (@pgw/domain listener-protocol): serves the forwarder
 * the listening sockets of its desired state, and adopts the ones it hands back after an agent
 * restart or when asked. Any other peer is disconnected before it is read.
 */
export function startListenerServer(options: ListenerServerOptions, registry: ListenerRegistry, logger: Logger): ListenerServer {
  const server = serveForwarderOnly(options.path, { uid: options.forwarderUid, gid: options.forwarderGid }, 'listener socket', logger, {
    onPacket: (session, packet) => handle(session, packet, registry, logger, options),
    onConnect: (pid) => logger.info('listener socket: forwarder connected', { pid }),
    onClose: (error, pid) => {
      if (error) logger.warn('listener socket: forwarder session ended', { pid, error: error.message });
    },
  });
  const asks = new HandbackAsks();
  return {
    close: () => server.close(),
    askHandback(ports) {
      const { send, repeated } = asks.next(ports, performance.now());
      if (!send) return;
      let sent = 0;
      for (const chunk of chunkPorts(ports)) sent = server.broadcast(encode({ v: LISTENER_PROTOCOL_VERSION, type: 'handback_wanted', ports: chunk }));
      if (sent > 0 && !repeated) logger.info('listener socket: a root socket keeps these ports from the agent; asked the forwarder to hand back the ones it holds', { ports });
    },
  };
}

function handle(session: PacketSocket, packet: Packet, registry: ListenerRegistry, logger: Logger, options: ListenerServerOptions): void {
  let message: ForwarderMessage;
  try {
    message = parseListenerMessage(forwarderMessageSchema, packet.data);
    if (message.type === 'handback' && packet.fds.length !== message.ports.length) {
      throw new Error(`listener protocol: handback lists ${message.ports.length} ports but carries ${packet.fds.length} descriptors`);
    }
    if (message.type === 'request' && packet.fds.length > 0) throw new Error('listener protocol: a request carries no descriptors');
  } catch (error) {
    for (const fd of packet.fds) closeFd(fd);
    logger.warn('listener socket: bad message from the forwarder, closing its session', { error: (error as Error).message });
    return session.close(error as Error);
  }
  if (message.type === 'handback') {
    const held: number[] = [];
    const refused: { port: number; reason: string }[] = [];
    message.ports.forEach((port, i) => {
      const reason = registry.adopt(port, packet.fds[i]!);
      if (reason === null) held.push(port);
      else refused.push({ port, reason });
    });
    if (refused.length > 0) logger.warn('listener socket: handed-back sockets refused', { refused });
    if (held.length > 0) {
      logger.info('listener socket: forwarder handed back its sockets', { held: held.length });
      options.onAdopted();
    }
    reply(session, { v: LISTENER_PROTOCOL_VERSION, type: 'handback_result', id: message.id, held, refused }, []);
    return options.onAnswered();
  }
  const granted: number[] = [];
  const fds: number[] = [];
  const refused: { port: number; reason: string }[] = [];
  for (const port of message.ports) {
    const grant = registry.grant(port);
    if ('fd' in grant) {
      granted.push(port);
      fds.push(grant.fd);
    } else {
      refused.push({ port, reason: grant.reason });
    }
  }
  reply(session, { v: LISTENER_PROTOCOL_VERSION, type: 'sockets', id: message.id, granted, refused }, fds);
  options.onAnswered();
}

/** Validated on the way out too: the forwarder would refuse anything else. */
function encode(message: AgentMessageInput): Buffer {
  return Buffer.from(JSON.stringify(agentMessageSchema.parse(message)));
}

function reply(session: PacketSocket, message: AgentMessageInput, fds: readonly number[]): void {
  const data = encode(message);
  try {
    session.send(data, fds);
  } catch (error) {
    session.close(error as Error);
  }
}
