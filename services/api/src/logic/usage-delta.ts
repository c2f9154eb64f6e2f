import type { ClientUsageSample } from '@pgw/events';

/** A node's counters as the history last took them: client IP -> [bytes up, bytes down, connections]. */
export type UsageCounters = Record<string, readonly [number, number, number]>;

export interface UsageBase {
  readonly sampledAt: Date;
  readonly countersSince: Date;
  readonly counters: UsageCounters;
}

/** One client's traffic between two samples of a node. */
export interface UsageDelta {
  readonly clientIp: string;
  readonly mappingId: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly connections: number;
}

/**
 * What a sample adds to the history (docs/contracts.md, "Client usage"): the difference from the
 * node's last sample taken. Counters that restarted (another countersSince, or a client's counter
 * lower than before: its mapping was removed and added again) count whole; a client new to the
 * node starts from 0. Clients without traffic since the last sample give no row. null: the sample
 * is not newer than the base (already taken, by this process or another).
 */
export function usageDeltas(base: UsageBase | null, sample: ClientUsageSample): { rows: UsageDelta[]; counters: UsageCounters } | null {
  if (base && sample.sampledAt.getTime() <= base.sampledAt.getTime()) return null;
  const previous = base && base.countersSince.getTime() === sample.countersSince.getTime() ? base.counters : {};
  const rows: UsageDelta[] = [];
  const counters: UsageCounters = {};
  for (const [clientIp, client] of Object.entries(sample.clients)) {
    const now = [client.bytesUp, client.bytesDown, client.connections] as const;
    counters[clientIp] = now;
    const before = previous[clientIp];
    const restarted = !before || now.some((value, i) => value < before[i]!);
    const [bytesUp, bytesDown, connections] = restarted ? now : [now[0] - before[0], now[1] - before[1], now[2] - before[2]];
    if (bytesUp > 0 || bytesDown > 0 || connections > 0) rows.push({ clientIp, mappingId: client.mappingId, bytesUp, bytesDown, connections });
  }
  return { rows, counters };
}
