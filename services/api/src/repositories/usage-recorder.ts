import type { Db } from '@pgw/db';
import { CLIENT_USAGE_INTERVAL_MS, CLIENT_USAGE_KEY, type ClientUsageSample, isStaleUsageSample, parseClientUsageHash } from '@pgw/events';
import type { Logger } from '@pgw/log';
import type { Redis } from 'ioredis';
import { type QuotaCounts, quotaCounts } from '../logic/quota-view.js';
import { pruneUsage, writeUsageSample } from './usage.js';

/** Half the agents' interval: a sample is taken at most 5 s after it was written. */
const POLL_MS = CLIENT_USAGE_INTERVAL_MS / 2;
const PRUNE_EVERY_MS = 60_000;

/**
 * Reads the agents' usage samples (Redis hash pgw:usage) and takes each new one into the accounting
 * history (repositories/usage.ts: exactly once, whichever api process sees it first), prunes the
 * history past its retention once a minute, and keeps the fresh samples' quota counts for the
 * mappings' quota progress. A failed read or write is logged and retried on the next poll: the
 * counters are cumulative, so a sample not taken costs resolution, never bytes.
 */
export class UsageRecorder {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private counts: QuotaCounts = new Map();
  private lastPrune = 0;
  /** Each node's last value and what it parsed to: a 4096-client sample takes ~50 ms to parse, and a poll sees it twice. */
  private parsed = new Map<string, { raw: string; samples: ClientUsageSample[] }>();

  constructor(
    private readonly deps: { db: Db; redis: Redis; logger: Logger; key?: string; pollMs?: number; now?: () => Date },
  ) {}

  start(): void {
    const tick = () => {
      this.running = this.poll().then(() => undefined, () => undefined).finally(() => {
        this.running = null;
        if (this.timer) this.timer = setTimeout(tick, this.deps.pollMs ?? POLL_MS).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Each client's quota count from the last poll's fresh samples. */
  quotaCounts(): QuotaCounts {
    return this.counts;
  }

  /** One read of the hash; every fresh sample is taken. Returns the samples taken (for tests and the bench). */
  async poll(): Promise<ClientUsageSample[]> {
    const { db, redis, logger } = this.deps;
    const now = this.deps.now?.() ?? new Date();
    let samples: ClientUsageSample[];
    try {
      samples = this.parse(await redis.hgetall(this.deps.key ?? CLIENT_USAGE_KEY)).filter((s) => !isStaleUsageSample(s, now));
    } catch (error) {
      logger.warn('usage samples unreadable', { error: (error as Error).message });
      this.counts = new Map();
      return [];
    }
    this.counts = quotaCounts(samples);
    const taken: ClientUsageSample[] = [];
    for (const sample of samples) {
      try {
        if (!(await writeUsageSample(db, sample)).skipped) taken.push(sample);
      } catch (error) {
        logger.warn('usage sample not stored', { node: sample.node, error: (error as Error).message });
      }
    }
    if (now.getTime() - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now.getTime();
      // The recorder's clock, as for the samples' staleness: one notion of now for the history.
      await pruneUsage(db, now).catch((error: unknown) => logger.warn('usage prune failed', { error: (error as Error).message }));
    }
    return taken;
  }

  private parse(hash: Record<string, string>): ClientUsageSample[] {
    const next = new Map<string, { raw: string; samples: ClientUsageSample[] }>();
    for (const [node, raw] of Object.entries(hash)) {
      const known = this.parsed.get(node);
      next.set(node, known?.raw === raw ? known : { raw, samples: parseClientUsageHash({ [node]: raw }) });
    }
    this.parsed = next;
    return [...next.values()].flatMap((entry) => entry.samples);
  }
}
