import type { ClientUsage, TopTalkers, UsageResolution } from '../contract/types.js';
import { notFound } from '../logic/domain-errors.js';
import { bucketStart, pickResolution, usageRange } from '../logic/usage-range.js';
import type { MappingRepository } from './ports.js';

export interface UsageBucket {
  at: string;
  bytesUp: number;
  bytesDown: number;
  connections: number;
}

export interface TalkerRow {
  clientIp: string;
  mappingId: number | null;
  description: string;
  bytesUp: number;
  bytesDown: number;
}

/** The accounting history (repositories/usage.ts on Postgres, migration 0011). */
export interface UsageHistory {
  /** How far back each resolution's history reaches (the retention settings), in ms. */
  retentionMs(): Promise<Record<UsageResolution, number>>;
  buckets(clientIp: string, resolution: UsageResolution, from: Date, to: Date): Promise<UsageBucket[]>;
  top(resolution: UsageResolution, from: Date, to: Date, limit: number): Promise<TalkerRow[]>;
}

/** Reads of the per-client accounting history: one client over a range, and the top talkers. */
export class UsageService {
  constructor(
    private readonly deps: {
      readonly mappings: Pick<MappingRepository, 'find'>;
      readonly history: UsageHistory;
      readonly now?: () => Date;
    },
  ) {}

  /** The traffic of the mapping's client address in the buckets over [from, to) (default the last 24 h), the one holding `from` included. */
  async client(mappingId: number, fromText: string | undefined, toText: string | undefined): Promise<ClientUsage> {
    const now = this.now();
    const range = usageRange(fromText, toText, now);
    const mapping = await this.deps.mappings.find(mappingId);
    if (!mapping) throw notFound(`mapping ${mappingId}`);
    const resolution = pickResolution(range, now, await this.deps.history.retentionMs());
    const points = await this.deps.history.buckets(mapping.clientIp, resolution, bucketStart(range.from, resolution), range.to);
    const totals = { bytesUp: 0, bytesDown: 0, connections: 0 };
    for (const p of points) {
      totals.bytesUp += p.bytesUp;
      totals.bytesDown += p.bytesDown;
      totals.connections += p.connections;
    }
    return { mappingId, clientIp: mapping.clientIp, from: range.from.toISOString(), to: range.to.toISOString(), resolution, points, totals };
  }

  async top(fromText: string | undefined, toText: string | undefined, limit: number): Promise<TopTalkers> {
    const now = this.now();
    const range = usageRange(fromText, toText, now);
    const resolution = pickResolution(range, now, await this.deps.history.retentionMs());
    const items = await this.deps.history.top(resolution, bucketStart(range.from, resolution), range.to, limit);
    return { from: range.from.toISOString(), to: range.to.toISOString(), resolution, items };
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}
