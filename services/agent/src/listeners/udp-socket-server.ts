import {
  type GatewayAddresses,
  type GatewayPolicy,
  UDP_SOCKET_PROTOCOL_VERSION,
  type UdpAgentMessageInput,
  udpAgentMessageSchema,
  udpForwarderMessageSchema,
  udpSocketPath,
  parseListenerMessage,
} from '@pgw/domain';
import type { Logger } from '@pgw/log';
import { closeFd, type Packet, type PacketSocket, transparentUdpSocket } from '@pgw/original-dst';
import { serveForwarderOnly } from './forwarder-only-server.js';
import { AGENT_SOCKET_MARK } from './agent-socket-mark.js';
import { replySocketRefusal, TPROXY_UDP_PORT } from './udp-reply-check.js';

export interface UdpSocketServerOptions {
  /** The listener socket's path: this server listens beside it (udpSocketPath). */
  readonly listenerSocket: string;
  readonly forwarderUid: number;
  readonly forwarderGid: number;
  /** The policy in force (the registry's last hold): who may get a reply socket. */
  policy(): GatewayPolicy | null;
  /** The gateway's own addresses now (the ranges of its local routes too): never a reply socket's. */
  gatewayAddresses(): GatewayAddresses;
}

/**
 * The agent's end of the UDP socket protocol (@pgw/domain udp-socket-protocol, docs/ARCHITECTURE.md
 * "UDP in TPROXY mode"). The agent holds CAP_NET_ADMIN, so it makes the transparent UDP sockets:
 * the one on 127.0.0.1:TPROXY_UDP_PORT that nft's tproxy feeds (made once, at start, so no other
 * user can bind the port; handed to the forwarder on request), and a reply socket per client flow
 * and destination, bound to the destination and connected to the client, so that the forwarder can
 * answer from where the client sent. Each is marked (AGENT_SOCKET_MARK): the ruleset, not the
 * connect, keeps its datagrams to answers on the LAN. Any peer but the forwarder is refused.
 */
/** The shared transparent UDP socket's receive buffer: 4 MiB, about 5000 small datagrams. */
const TPROXY_UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;

export function startUdpSocketServer(options: UdpSocketServerOptions, logger: Logger): { close(): void } {
  let tproxyFd: number | null = null;
  let tproxyProblem = '';
  /**
   * Bound at start, and again when the forwarder asks while it is not: after an agent restart the
   * forwarder still holds the previous agent's socket (the port is taken; it keeps relaying on it),
   * and once that forwarder is gone too the port is free for a new one.
   */
  const bindTproxy = () => {
    if (tproxyFd !== null) return;
    try {
      // Marked too: it only receives, and IP_PKTINFO would let its holder send from any address.
      // A queue of thousands of datagrams (the default holds about 270 small ones): every client's
      // new flows share it, each within its rate (flow 24), and it must take their bursts at once.
      tproxyFd = transparentUdpSocket('127.0.0.1', TPROXY_UDP_PORT, { recvOrigDst: true, mark: AGENT_SOCKET_MARK, receiveBuffer: TPROXY_UDP_RECEIVE_BUFFER });
      tproxyProblem = '';
    } catch (error) {
      // Without it tproxy places no datagram: the LAN's UDP is dropped (lan_tproxy), never routed.
      const problem = `cannot bind the transparent UDP socket 127.0.0.1:${TPROXY_UDP_PORT}: ${(error as Error).message}`;
      if (problem !== tproxyProblem) logger.warn('UDP in TPROXY mode: no transparent socket, client UDP is dropped unless a forwarder still holds one', { error: problem });
      tproxyProblem = problem;
    }
  };
  bindTproxy();
  const server = serveForwarderOnly(udpSocketPath(options.listenerSocket), { uid: options.forwarderUid, gid: options.forwarderGid }, 'UDP socket server', logger, {
    onPacket: (session, packet) => handle(session, packet),
  });

  function handle(session: PacketSocket, packet: Packet): void {
    for (const fd of packet.fds) closeFd(fd);
    let message;
    try {
      message = parseListenerMessage(udpForwarderMessageSchema, packet.data);
    } catch (error) {
      logger.warn('UDP socket server: bad message from the forwarder, closing its session', { error: (error as Error).message });
      return session.close(error as Error);
    }
    if (message.type === 'tproxy_socket') {
      bindTproxy();
      if (tproxyFd === null) return reply(session, { v: UDP_SOCKET_PROTOCOL_VERSION, type: 'refused', id: message.id, reason: tproxyProblem }, []);
      return reply(session, { v: UDP_SOCKET_PROTOCOL_VERSION, type: 'socket', id: message.id }, [tproxyFd]);
    }
    const { client, destination } = message;
    const refusal = replySocketRefusal(options.policy(), client.ip, destination.ip, options.gatewayAddresses);
    if (refusal !== null) return reply(session, { v: UDP_SOCKET_PROTOCOL_VERSION, type: 'refused', id: message.id, reason: refusal }, []);
    let fd: number;
    try {
      fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, connect: { address: client.ip, port: client.port }, mark: AGENT_SOCKET_MARK });
    } catch (error) {
      return reply(session, { v: UDP_SOCKET_PROTOCOL_VERSION, type: 'refused', id: message.id, reason: (error as Error).message.slice(0, 300) }, []);
    }
    // The forwarder gets a duplicate; the agent's copy is closed at once.
    reply(session, { v: UDP_SOCKET_PROTOCOL_VERSION, type: 'socket', id: message.id }, [fd]);
    closeFd(fd);
  }

  /**
   * A full channel (EAGAIN: the forwarder has not read its answers yet, e.g. a burst of new flows
   * in one turn of its loop) drops this answer only: that flow's ask times out in the forwarder and
   * is asked again. Closing the channel, as any failed send did, failed every client's pending asks.
   */
  let dropped = 0;
  function reply(session: PacketSocket, message: UdpAgentMessageInput, fds: readonly number[]): void {
    const data = Buffer.from(JSON.stringify(udpAgentMessageSchema.parse(message)));
    try {
      session.send(data, fds);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return session.close(error as Error);
      if (dropped++ % 1000 === 0) logger.warn('UDP socket server: the forwarder is not reading its answers; answers dropped, their asks will time out', { dropped });
    }
  }

  return {
    close() {
      server.close();
      if (tproxyFd !== null) closeFd(tproxyFd);
      tproxyFd = null;
    },
  };
}
