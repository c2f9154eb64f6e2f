import { z } from 'zod';
import { ipv4Schema, portSchema } from './net.js';

/**
 * The agent <-> forwarder protocol for the transparent UDP sockets of TPROXY mode (issue 15,
 * docs/ARCHITECTURE.md "UDP in TPROXY mode"), on its own Unix SOCK_SEQPACKET socket beside the
 * listener socket (udpSocketPath): one JSON object per message, an answer's socket attached as
 * an SCM_RIGHTS descriptor. Making these sockets needs CAP_NET_ADMIN (IP_TRANSPARENT), which
 * only the agent holds; the forwarder only reads and writes them.
 */
export const UDP_SOCKET_PROTOCOL_VERSION = 1;

/** The UDP socket's path: the listener socket's with `.udp` appended (same directory, same permissions). */
export const udpSocketPath = (listenerSocket: string): string => `${listenerSocket}.udp`;

const id = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const endpoint = z.object({ ip: ipv4Schema, port: portSchema }).strict();
const v = z.literal(UDP_SOCKET_PROTOCOL_VERSION);

/** Forwarder -> agent. */
export const udpForwarderMessageSchema = z.discriminatedUnion('type', [
  /** The socket nft's tproxy statement feeds with every relayed client datagram. */
  z.object({ v, type: z.literal('tproxy_socket'), id }).strict(),
  /** A socket bound to `destination` (what the client addressed) and connected to `client`: answers come from where the client sent. */
  z.object({ v, type: z.literal('reply_socket'), id, client: endpoint, destination: endpoint }).strict(),
]);
export type UdpForwarderMessage = z.infer<typeof udpForwarderMessageSchema>;
export type UdpForwarderMessageInput = z.input<typeof udpForwarderMessageSchema>;

/** Agent -> forwarder: the answer to the message with the same id. */
export const udpAgentMessageSchema = z.discriminatedUnion('type', [
  /** The descriptor is attached. */
  z.object({ v, type: z.literal('socket'), id }).strict(),
  z.object({ v, type: z.literal('refused'), id, reason: z.string().min(1).max(300) }).strict(),
]);
export type UdpAgentMessage = z.infer<typeof udpAgentMessageSchema>;
export type UdpAgentMessageInput = z.input<typeof udpAgentMessageSchema>;
