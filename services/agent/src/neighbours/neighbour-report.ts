import { agentNeighboursKey, MAX_NEIGHBOURS, NEIGHBOUR_STATES, NEIGHBOURS_TTL_S, type NeighbourRecordInput } from '@pgw/events';
import type { Logger } from '@pgw/log';
import type { Redis } from 'ioredis';
import { readNeighbours } from '../netlink/kernel-tables.js';
import type { NeighbourRow } from '../netlink/rtnetlink.js';

/**
 * Device discovery (docs/contracts.md): the agent reads the kernel's IPv4 neighbour table on the
 * LAN interface and writes it as its own record, so the console can list the devices that talk to
 * the gateway without a mapping. The gateway learns a device from its first ARP request, so a
 * device shows up at the next read after its first packet.
 */

export interface SeenNeighbour {
  ip: string;
  mac: string;
  state: (typeof NEIGHBOUR_STATES)[number];
  /** Wall-clock ms of the kernel's last confirmation. */
  lastSeenMs: number;
}

const REPORTED = new Set<string>(NEIGHBOUR_STATES);
/**
 * The rows with a MAC and a state we report (no FAILED or INCOMPLETE: they have no MAC), as
 * `ip neigh show` lists them: an entry that is only NOARP (the broadcast address, multicast
 * groups) is no device.
 */
export function seenNeighbours(rows: readonly NeighbourRow[], nowMs: number): SeenNeighbour[] {
  return rows.flatMap((row) => {
    if (row.states.every((s) => s === 'NOARP')) return [];
    const state = row.states.find((s) => REPORTED.has(s)) as SeenNeighbour['state'] | undefined;
    if (!row.mac || !state) return [];
    // The more recent of "confirmed" (a packet from it) and "updated" (learnt from its ARP request).
    const ago = Math.min(row.confirmedMsAgo ?? Infinity, row.updatedMsAgo ?? Infinity);
    return [{ ip: row.ip, mac: row.mac, state, lastSeenMs: nowMs - (Number.isFinite(ago) ? ago : 0) }];
  });
}

/**
 * Builds the record from successive reads: the first time each IP+MAC pair was seen (the kernel
 * keeps no such time, so it counts from this agent's start), the most recently seen first, at most
 * MAX_NEIGHBOURS of them. Pairs not in the table any more are forgotten.
 */
export class NeighbourTable {
  private readonly firstSeen = new Map<string, number>();

  record(iface: string, seen: readonly SeenNeighbour[], nowMs: number): NeighbourRecordInput {
    const present = new Set<string>();
    for (const n of seen) {
      const key = `${n.ip}|${n.mac}`;
      present.add(key);
      if (!this.firstSeen.has(key)) this.firstSeen.set(key, Math.min(nowMs, n.lastSeenMs));
    }
    for (const key of this.firstSeen.keys()) if (!present.has(key)) this.firstSeen.delete(key);
    const sorted = [...seen].sort((a, b) => b.lastSeenMs - a.lastSeenMs || a.ip.localeCompare(b.ip));
    const kept = sorted.slice(0, MAX_NEIGHBOURS);
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      at: iso(nowMs),
      interface: iface,
      neighbours: kept.map((n) => ({ ip: n.ip, mac: n.mac, state: n.state, firstSeen: iso(this.firstSeen.get(`${n.ip}|${n.mac}`)!), lastSeen: iso(n.lastSeenMs) })),
      omitted: sorted.length - kept.length,
    };
  }
}

/** What changed for the console: the set of devices, their MACs and states (not the times, which move on every read). */
function identity(record: NeighbourRecordInput): string {
  return JSON.stringify([record.interface, record.neighbours.map((n) => [n.ip, n.mac, n.state]), record.omitted]);
}

/** Between reads: a new device is in the record within this. */
export const NEIGHBOUR_POLL_MS = 2_000;
/** Times alone changed: written this often, well inside the TTL. */
const REFRESH_MS = 10_000;

/**
 * Reads the table every NEIGHBOUR_POLL_MS and writes the record when a device, MAC or state
 * changed, or REFRESH_MS after the last write (read over netlink, no process). Redis or the read failing is logged, never fatal.
 */
export class NeighbourReporter {
  private readonly table = new NeighbourTable();
  private iface: string | null = null;
  private lastIdentity = '';
  private lastWriteAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    /** This gateway's name (PGW_NODE_NAME): its record is its own key, the only one its Redis user may write. */
    private readonly node: string,
  ) {}

  /** The LAN interface of the policy in force (a validated interface name). */
  setInterface(iface: string): void {
    this.iface = iface;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), NEIGHBOUR_POLL_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async poll(): Promise<void> {
    if (this.running || this.iface === null) return;
    this.running = true;
    const iface = this.iface;
    try {
      const rows = await readNeighbours(iface);
      const now = Date.now();
      const record = this.table.record(iface, seenNeighbours(rows, now), now);
      const id = identity(record);
      if (id === this.lastIdentity && now - this.lastWriteAt < REFRESH_MS) return;
      await this.redis.set(agentNeighboursKey(this.node), JSON.stringify(record), 'EX', NEIGHBOURS_TTL_S);
      this.lastIdentity = id;
      this.lastWriteAt = now;
    } catch (error) {
      this.logger.warn('cannot report the LAN neighbour table', { error: (error as Error).message });
    } finally {
      this.running = false;
    }
  }
}
