import { z } from 'zod';
import { parseRecord } from './parse-record.js';
import { nodeNameSchema } from './client-usage.js';

/**
 * An HA pair's nodes (issue 18, docs/ARCHITECTURE.md "HA pair"): each gateway has a name
 * (PGW_NODE_NAME, default its hostname; nodeNameSchema: no ':' or glob character, so it can end a
 * Redis key the ACL grants by prefix) that keys its status records, and keepalived's state as
 * the node's agent reads it from the file keepalived's notify hook writes.
 */
/** The states keepalived's notify hook reports (STOP: keepalived stopped, or found dead by the agent). */
export const HA_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP'] as const;
export type HaState = (typeof HA_STATES)[number];

/**
 * Every node whose agent reported, scored by the time of its last status write (ms): a sorted set,
 * so a node that went down stays listed (with no status) instead of vanishing with its keys' TTL.
 */
export const NODES_KEY = 'pgw:nodes';
/** A node not heard from for this long is dropped from the set (by the next write of any agent). */
export const NODE_FORGET_MS = 24 * 3600_000;

/**
 * The node's HA state, `pgw:ha:<node>`: its own key beside the agent's status record because it must
 * be fresh within seconds, not a minute. The agent writes it on every change and refreshes it every
 * second with a 3 s TTL, so a node whose agent died (its keepalived gives up the address through the
 * track script, but nobody reports that) reads as unknown within 3 s instead of claiming MASTER on.
 * Absent for a node that is not part of an HA pair.
 */
export const HA_STATUS_PREFIX = 'pgw:ha:';
export const haStatusKey = (node: string): string => `${HA_STATUS_PREFIX}${node}`;
export const HA_STATUS_TTL_S = 3;
export const HA_STATUS_REFRESH_MS = 1_000;

export const haStatusSchema = z.object({
  /** null until keepalived's hook first wrote the state file. */
  state: z.enum(HA_STATES).nullable(),
  /** When the node entered the state (the hook's time), or when the agent found keepalived gone. */
  since: z.iso.datetime({ offset: true }).transform((value) => new Date(value)).nullable(),
  priority: z.number().int().min(0).max(255).nullable(),
});
export type HaStatusRecord = z.input<typeof haStatusSchema>;
export type HaStatus = z.output<typeof haStatusSchema>;

/** A missing, malformed or foreign value reads as unknown (null). */
export function parseHaStatus(raw: string | null | undefined): HaStatus | null {
  return parseRecord(haStatusSchema, raw);
}

/** Published by a node's agent when its recorded HA state changes. */
export const haStateChanged = z.object({
  type: z.literal('ha.state_changed'),
  node: nodeNameSchema,
  state: z.enum(HA_STATES),
  previous: z.enum(HA_STATES).nullable(),
  since: z.iso.datetime({ offset: true }),
});
