/**
 * What a per-client limit of table inet pgw refused, as the kernel counts it (flow 23's cap, flow
 * 25's rate: docs/SECURITY.md): its dynamic set (flow_cap_refused, tcp_rate_refused) holds one
 * element per client refused, with a counter of the refused packets (a connection's first packet,
 * and each retransmission of it). Pure.
 */
export interface RefusalReading {
  /** The table's handle: a new one for each instance of the table (every full apply re-creates it, counts from zero). */
  readonly table: number;
  /** Refused packets by client address, since the element was added. */
  readonly counts: ReadonlyMap<string, number>;
}

/**
 * The refusals between two readings, by client. A new table instance counts whole (its counts
 * started at zero), and so does a client whose count went down or that the last reading lacked.
 */
export function refusalsSince(last: RefusalReading | null, now: RefusalReading): Map<string, number> {
  const sameTable = last !== null && last.table === now.table;
  const since = new Map<string, number>();
  for (const [client, count] of now.counts) {
    const before = sameTable ? last.counts.get(client) : undefined;
    const delta = before !== undefined && count >= before ? count - before : count;
    if (delta > 0) since.set(client, delta);
  }
  return since;
}

/** The handle of table `family name` in `nft -j list tables`; null when the table is absent. */
export function tableHandle(json: string, family: string, name: string): number | null {
  for (const item of nftItems(json)) {
    const table = item.table as Record<string, unknown> | undefined;
    if (table?.family === family && table.name === name && typeof table.handle === 'number') return table.handle;
  }
  return null;
}

/** Each element's packet counter in `nft -j list set` of a set declared with `counter`. */
export function setPacketCounts(json: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of nftItems(json)) {
    const set = item.set as Record<string, unknown> | undefined;
    if (set === undefined) continue;
    for (const element of (set.elem as unknown[] | undefined) ?? []) {
      const elem = (element as Record<string, unknown> | null)?.elem as Record<string, unknown> | undefined;
      const packets = (elem?.counter as Record<string, unknown> | undefined)?.packets;
      if (typeof elem?.val !== 'string' || typeof packets !== 'number') throw new Error(`unexpected element in the set listing: ${JSON.stringify(element).slice(0, 200)}`);
      counts.set(elem.val, packets);
    }
  }
  return counts;
}

function nftItems(json: string): Record<string, unknown>[] {
  const parsed = JSON.parse(json) as { nftables?: unknown };
  if (!Array.isArray(parsed.nftables)) throw new Error('nft -j printed no nftables array');
  return parsed.nftables as Record<string, unknown>[];
}
