import { z } from 'zod';
import { portSchema } from './net.js';

/**
 * The agent <-> forwarder protocol over the agent's listener socket (a Unix SOCK_SEQPACKET
 * socket: each message is one JSON object, framed by the socket itself, with the listening
 * sockets it hands over attached as SCM_RIGHTS descriptors, in the order of the ports it lists).
 * See docs/ARCHITECTURE.md, "Listening sockets".
 */
export const LISTENER_PROTOCOL_VERSION = 1;

/** At most this many ports (and so descriptors) per message: the kernel allows 253 descriptors. */
export const MAX_PORTS_PER_MESSAGE = 200;

const ports = z.array(portSchema).max(MAX_PORTS_PER_MESSAGE);
const refusal = z.object({ port: portSchema, reason: z.string().min(1).max(300) }).strict();
const requestId = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/** Forwarder -> agent. */
export const forwarderMessageSchema = z.discriminatedUnion('type', [
  /** The listening sockets the forwarder holds (one descriptor per port), sent on every (re)connect: a restarted agent adopts them. */
  z.object({ v: z.literal(LISTENER_PROTOCOL_VERSION), type: z.literal('handback'), id: requestId, ports }).strict(),
  /** Asks for the listening sockets of these ports. */
  z.object({ v: z.literal(LISTENER_PROTOCOL_VERSION), type: z.literal('request'), id: requestId, ports: ports.min(1) }).strict(),
]);
export type ForwarderMessage = z.infer<typeof forwarderMessageSchema>;

/** Agent -> forwarder: the answer to the message with the same id, or a handback the agent asks for. */
export const agentMessageSchema = z.discriminatedUnion('type', [
  /** Handback: which sockets the agent now holds (adopted, or already its own), and which it refused. */
  z.object({ v: z.literal(LISTENER_PROTOCOL_VERSION), type: z.literal('handback_result'), id: requestId, held: ports, refused: z.array(refusal).max(MAX_PORTS_PER_MESSAGE) }).strict(),
  /** Request: `granted` lists the ports whose descriptors are attached, in that order. */
  z.object({ v: z.literal(LISTENER_PROTOCOL_VERSION), type: z.literal('sockets'), id: requestId, granted: ports, refused: z.array(refusal).max(MAX_PORTS_PER_MESSAGE) }).strict(),
  /**
   * Unasked: the agent cannot bind these ports, a root socket holds them (the forwarder's copy of
   * one the agent let go of): the forwarder hands back those it holds. A forwarder of an older
   * version ends the session on it, and hands back everything when it reconnects.
   */
  z.object({ v: z.literal(LISTENER_PROTOCOL_VERSION), type: z.literal('handback_wanted'), ports: ports.min(1) }).strict(),
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;
export type AgentMessageInput = z.input<typeof agentMessageSchema>;
export type ForwarderMessageInput = z.input<typeof forwarderMessageSchema>;

/** Parses one message; throws an error naming what is wrong (bad JSON, or the failing field). */
export function parseListenerMessage<T>(schema: z.ZodType<T>, data: Buffer): T {
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch {
    throw new Error('listener protocol: message is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`listener protocol: ${issue.path.join('.') || 'message'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Splits ports into message-sized chunks. */
export function chunkPorts<T>(items: readonly T[]): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += MAX_PORTS_PER_MESSAGE) chunks.push(items.slice(i, i + MAX_PORTS_PER_MESSAGE));
  return chunks;
}
