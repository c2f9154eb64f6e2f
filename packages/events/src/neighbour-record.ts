import { z } from 'zod';
import { parseRecord } from './parse-record.js';

/**
 * The LAN neighbour table as the agent reports it (docs/contracts.md, "Device discovery"): the IPv4
 * neighbours the kernel knows on the LAN interface, so the console can list devices no mapping
 * covers yet. Its own key beside the agent's status, refreshed on its own cadence: the table changes
 * with every device that talks, a reconcile does not.
 */
export const AGENT_NEIGHBOURS_KEY = 'pgw:agent:neighbours';
/** Refreshed well inside it; a stopped agent's table disappears and reads as unknown. */
export const NEIGHBOURS_TTL_S = 60;
/**
 * The most entries one record holds (a /22 LAN is ~1000 hosts): the most recently seen are kept and
 * `omitted` counts the rest, so a flood of forged ARP senders cannot grow the key without bound.
 */
export const MAX_NEIGHBOURS = 1024;

const isoTime = z.iso.datetime({ offset: true }).transform((value) => new Date(value));

/** Kernel NUD states the agent reports; FAILED and INCOMPLETE entries have no MAC and are left out. */
export const NEIGHBOUR_STATES = ['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP'] as const;

export const neighbourSchema = z.object({
  ip: z.ipv4(),
  /** Lower-case colon form, as `ip neigh` prints it. */
  mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/),
  state: z.enum(NEIGHBOUR_STATES),
  /** When this agent first saw the IP with this MAC (since its start: the kernel keeps no such time). */
  firstSeen: isoTime,
  /** The kernel's last confirmation of the neighbour (a packet or ARP answer from it). */
  lastSeen: isoTime,
});

export const neighbourRecordSchema = z.object({
  /** When the table was read. */
  at: isoTime,
  /** The LAN interface it was read on. */
  interface: z.string().min(1).max(15),
  neighbours: z.array(neighbourSchema).max(MAX_NEIGHBOURS),
  /** Entries left out beyond MAX_NEIGHBOURS (the least recently seen). */
  omitted: z.number().int().nonnegative(),
});
export type NeighbourRecordInput = z.input<typeof neighbourRecordSchema>;
export type NeighbourRecord = z.output<typeof neighbourRecordSchema>;
export type Neighbour = z.output<typeof neighbourSchema>;

/** A missing, malformed or foreign value reads as unknown (null). */
export function parseNeighbourRecord(raw: string | null | undefined): NeighbourRecord | null {
  return parseRecord(neighbourRecordSchema, raw);
}
