import { z } from 'zod';
import { parseRecord } from './parse-record.js';

/**
 * The status records the agent and the forwarder keep in Redis (docs/contracts.md): each writes its
 * key (SET with a 60 s TTL, refreshed well inside it) and the api reads both for the dashboard and the
 * mappings' effective state. A writer builds `z.input` of the schema; a reader parses with it and gets
 * `z.output` (times as Date). Fields added later have defaults, so a reader accepts an older writer.
 */
/**
 * One key per gateway node (PGW_NODE_NAME; issue 18): both nodes of an HA pair run an agent and a
 * forwarder, and with one key each would overwrite the other's record. The ACL grants the prefix.
 */
export const AGENT_STATUS_PREFIX = 'pgw:agent:status:';
export const FORWARDER_STATUS_PREFIX = 'pgw:forwarder:status:';
export const agentStatusKey = (node: string): string => `${AGENT_STATUS_PREFIX}${node}`;
export const forwarderStatusKey = (node: string): string => `${FORWARDER_STATUS_PREFIX}${node}`;
export const STATUS_TTL_S = 60;

const isoTime = z.iso.datetime({ offset: true }).transform((value) => new Date(value));
const count = z.number().int().nonnegative();

/** The agent's last reconcile: what the gateway really does per client. */
export const agentStatusSchema = z.object({
  ok: z.boolean(),
  /** When the reconcile ended; a mapping updated after it is not applied yet. */
  at: isoTime,
  durationMs: z.number().nonnegative(),
  /** Clients whose traffic flows through their proxy. */
  appliedMappings: count,
  /** Blocked client IP -> reason (mapping_disabled, proxy_down, proxy_unknown, ...). */
  blocked: z.record(z.string(), z.string()),
  /** Mapping rows the agent could not use, each with the reason. */
  rejected: z.array(z.object({ mappingId: z.number().int(), reason: z.string() })).default([]),
  /** Settings and mapping ports the agent refused to apply on this gateway, each with its reason. */
  refusals: z.array(z.object({ subject: z.string(), reason: z.string() })).default([]),
  /**
   * Clients over their byte quota (issue 16): IP -> mapping, quota and bytes counted. The kernel
   * drops their packets both ways; `blocked` shows them as quota_exceeded. An operator's reset
   * (a new quota epoch) lifts it. Optional rather than defaulted so that readers' records typed
   * before it need no change; absent: no client over quota.
   */
  quotaExceeded: z.record(z.string(), z.object({ mappingId: z.number().int(), quotaBytes: count, usedBytes: count })).optional(),
  /**
   * Effective clients whose own proxy is down, on a backup proxy instead (issue 17): IP -> the
   * backup's proxy id. Optional like quotaExceeded; absent: no client on a backup.
   */
  onBackup: z.record(z.string(), z.number().int()).optional(),
  error: z.string().nullable(),
  /** The node this record is of (its key says it too); optional so that records typed before it need no change. */
  node: z.string().optional(),
});
export type AgentStatusRecord = z.input<typeof agentStatusSchema>;
export type AgentStatus = z.output<typeof agentStatusSchema>;

/** The forwarder's listeners and connections. */
export const forwarderStatusSchema = z.object({
  at: isoTime,
  activeConnections: count,
  /** Mapping id -> its open relays. */
  perMapping: z.record(z.string(), count),
  listeners: count,
  /** Connections the destination policy refused since the forwarder started, by reason (destination_loopback, proxy_lan, ...). */
  refused: z.record(z.string(), count).default({}),
  /** TPROXY mode's UDP relay (issue 15): open flows, and per mapping id why its client's UDP is dropped (never sent directly). Absent: a forwarder from before. */
  udp: z
    .object({
      flows: count,
      dropped: z.record(z.string(), z.object({ reason: z.string(), detail: z.string(), datagrams: count })),
    })
    .optional(),
});
export type ForwarderStatusRecord = z.input<typeof forwarderStatusSchema>;
export type ForwarderStatus = z.output<typeof forwarderStatusSchema>;

/** A missing, malformed or foreign value reads as unknown (null): the reader shows "not applied", never "effective". */
export const parseAgentStatus = (raw: string | null | undefined): AgentStatus | null => parseRecord(agentStatusSchema, raw);
export const parseForwarderStatus = (raw: string | null | undefined): ForwarderStatus | null => parseRecord(forwarderStatusSchema, raw);
