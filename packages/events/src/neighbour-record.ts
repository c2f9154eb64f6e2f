import { z } from 'zod';
import { parseRecord } from './parse-record.js';

/**
 * The LAN neighbour table as the agent reports it (docs/contracts.md, "Device discovery"): the IPv4
 * neighbours the kernel knows on the LAN interface, so the console can list devices no mapping
 * covers yet. Its own key beside the agent's status, refreshed on its own cadence: the table changes
 * with every device that talks, a reconcile does not. One key per gateway node (issue 18): both
 * agents of an HA pair see the LAN, and each may write only its own key (its Redis user's grant).
 */
export const AGENT_NEIGHBOURS_PREFIX = 'pgw:agent:neighbours:';
export const agentNeighboursKey = (node: string): string => `${AGENT_NEIGHBOURS_PREFIX}${node}`;
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

/**
 * The nodes' tables as one (what the console lists): each IP once, with the MAC and state of the
 * node that heard from it last, the earliest first sighting; the newest record's time and interface;
 * at most MAX_NEIGHBOURS, the most recently seen, the rest counted in `omitted`. null: no record.
 */
export function mergeNeighbourRecords(records: readonly NeighbourRecord[]): NeighbourRecord | null {
  if (records.length === 0) return null;
  const newest = records.reduce((a, b) => (b.at > a.at ? b : a));
  const byIp = new Map<string, Neighbour>();
  for (const record of records) {
    for (const n of record.neighbours) {
      const seen = byIp.get(n.ip);
      if (seen === undefined) byIp.set(n.ip, n);
      else {
        const latest = n.lastSeen > seen.lastSeen ? n : seen;
        byIp.set(n.ip, { ...latest, firstSeen: n.firstSeen < seen.firstSeen ? n.firstSeen : seen.firstSeen });
      }
    }
  }
  const all = [...byIp.values()].sort((a, b) => b.lastSeen.getTime() - a.lastSeen.getTime());
  const omitted = Math.max(...records.map((r) => r.omitted)) + Math.max(0, all.length - MAX_NEIGHBOURS);
  return { at: newest.at, interface: newest.interface, neighbours: all.slice(0, MAX_NEIGHBOURS), omitted };
}
