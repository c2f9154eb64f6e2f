import { hostname } from 'node:os';
import type { Logger } from '@pgw/log';
import type { Redis } from 'ioredis';
import { decodeEvent, encodeEvent } from './codec.js';
import type { PgwEvent, ReceivedEvent } from './events.js';
import { connectRedis, reconnectDelayMs } from './redis-connection.js';
import { compareStreamIds, type ConsumerGroup, CONSUMER_SOURCES, EVENT_PUBLISHERS, type EventPublisher, PUBLISHER_OF, streamKey } from './routing.js';

export const DEFAULT_STREAM = 'pgw:events';
const PUBLISH_WAIT_MS = 1_000;
/**
 * How long stop() waits for a read in flight. While ioredis waits to reconnect, a disconnect()
 * never settles the command it queued, so a stop that awaited it would hang whenever Redis is down.
 */
const STOP_GRACE_MS = 500;

export interface EventBusOptions {
  redisUrl: string;
  logger: Logger;
  /** Base name of the streams: each publisher writes `<stream>:<publisher>` (routing.ts). */
  stream?: string;
  /** Approximate cap on the stream length; notices are not the only copy of anything. */
  maxLen?: number;
}

export interface SubscribeOptions {
  /** One consumer group per service: it sees every notice of the publishers it reads (CONSUMER_SOURCES) once. */
  group: ConsumerGroup;
  /**
   * The gateway node this consumer enforces on (PGW_NODE_NAME). Each node of an HA pair must see
   * every notice, so its agent and forwarder read with the node's own group, `<group>:<node>`; one
   * group shared by both nodes would hand each notice to one of them only, and the other would
   * block a dead proxy's clients only at its next resync.
   */
  node?: string;
  /** Stable across restarts, so a restarted consumer finds its own pending entries first. */
  consumer?: string;
  handler: (received: ReceivedEvent) => Promise<void>;
  blockMs?: number;
  batch?: number;
  /** Entries another consumer left unacknowledged this long are reclaimed (it crashed). */
  reclaimIdleMs?: number;
}

export interface Subscription {
  stop(): Promise<void>;
}

type Entry = [string, string[]];
type StreamReply = [string, Entry[]][] | null;

/**
 * A typed layer over the per-publisher Redis streams. Publishing fails fast while Redis is down
 * (callers log and rely on the Postgres resync); consumers ack only after their handler succeeded.
 */
export class EventBus {
  private readonly publisher: Redis;
  private readonly stream: string;
  private readonly subscriptions = new Set<Subscription>();

  constructor(private readonly options: EventBusOptions) {
    this.stream = options.stream ?? DEFAULT_STREAM;
    this.publisher = connectRedis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    this.publisher.on('error', () => undefined);
  }

  async publish(event: PgwEvent): Promise<string> {
    await this.publisherReady();
    const fields = encodeEvent(event, new Date());
    const id = await this.publisher.xadd(streamKey(this.stream, PUBLISHER_OF[event.type]), 'MAXLEN', '~', String(this.options.maxLen ?? 10_000), '*', ...fields);
    return id!;
  }

  /** Waits a bounded time for the connection (at start, or mid-reconnect), then fails: never hangs a caller. */
  private async publisherReady(): Promise<void> {
    if (this.publisher.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.publisher.off('ready', onReady);
        reject(new Error(`Redis is not reachable (connection ${this.publisher.status})`));
      }, PUBLISH_WAIT_MS);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.publisher.once('ready', onReady);
    });
  }

  /** Resolves once Redis answers; used by readiness checks. */
  async ping(): Promise<boolean> {
    try {
      return (await this.publisher.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  subscribe(options: SubscribeOptions): Subscription {
    const loop = new GroupConsumer(this.options, this.stream, options);
    const subscription = { stop: () => loop.stop() };
    this.subscriptions.add(subscription);
    loop.start();
    return subscription;
  }

  /**
   * Reads every publisher's notices after `fromId` without a group (SSE: each browser tab is its own
   * reader), merged in id order. One id resumes all streams: ids of one server share its clock.
   */
  tail(fromId: string, handler: (received: ReceivedEvent) => void): Subscription {
    const redis = connectRedis(this.options.redisUrl, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    let stopped = false;
    const keys = EVENT_PUBLISHERS.map((publisher) => streamKey(this.stream, publisher));
    const lastIds = keys.map(() => fromId);
    const run = async () => {
      let attempt = 0;
      while (!stopped) {
        try {
          const reply = (await redis.xread('COUNT', 100, 'BLOCK', 5_000, 'STREAMS', ...keys, ...lastIds)) as StreamReply;
          attempt = 0;
          const received: ReceivedEvent[] = [];
          for (const [key, entries] of reply ?? []) {
            const index = keys.indexOf(key);
            for (const [id, fields] of entries) {
              lastIds[index] = id;
              const decoded = decodeEvent(id, fields, EVENT_PUBLISHERS[index]!);
              if ('event' in decoded) received.push(decoded);
            }
          }
          for (const event of received.sort((a, b) => compareStreamIds(a.id, b.id))) handler(event);
        } catch {
          if (!stopped) await sleep(reconnectDelayMs(attempt++));
        }
      }
    };
    const done = run();
    const subscription = {
      stop: async () => {
        stopped = true;
        redis.disconnect();
        await settledOrTimeout(done, STOP_GRACE_MS);
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** The newest id in any stream, so a new SSE client starts from now. */
  async lastId(): Promise<string> {
    const newest = await Promise.all(
      EVENT_PUBLISHERS.map(async (publisher) => ((await this.publisher.xrevrange(streamKey(this.stream, publisher), '+', '-', 'COUNT', 1)) as Entry[])[0]?.[0] ?? '0-0'),
    );
    return newest.sort(compareStreamIds).at(-1)!;
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.publisher.disconnect();
  }
}

/** One group reading the streams of the publishers it listens to. */
class GroupConsumer {
  private readonly redis: Redis;
  private readonly consumer: string;
  private readonly sources: readonly EventPublisher[];
  /** The Redis consumer group: the service's, or its node's (SubscribeOptions.node). */
  private readonly group: string;
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: EventBusOptions,
    private readonly stream: string,
    private readonly options: SubscribeOptions,
  ) {
    this.consumer = options.consumer ?? `${options.group}@${hostname()}`;
    this.sources = CONSUMER_SOURCES[options.group];
    this.group = options.node === undefined ? options.group : `${options.group}:${options.node}`;
    this.redis = connectRedis(bus.redisUrl, { maxRetriesPerRequest: null });
    this.redis.on('error', () => undefined);
  }

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.redis.disconnect();
    await settledOrTimeout(this.done, STOP_GRACE_MS);
  }

  private async run(): Promise<void> {
    let attempt = 0;
    let groupReady = false;
    let lastReclaim = 0;
    while (!this.stopped) {
      try {
        if (!groupReady) {
          await this.ensureGroup();
          // Our own entries that were delivered but never acknowledged (we crashed mid-handling).
          await this.handleReply(await this.readGroup('0', 0));
          groupReady = true;
        }
        const reclaimIdleMs = this.options.reclaimIdleMs ?? 30_000;
        if (Date.now() - lastReclaim >= reclaimIdleMs / 2) {
          await this.reclaim(reclaimIdleMs);
          lastReclaim = Date.now();
        }
        await this.handleReply(await this.readGroup('>', this.options.blockMs ?? 2_000));
        attempt = 0;
      } catch (error) {
        if (this.stopped) break;
        groupReady = false;
        const delay = reconnectDelayMs(attempt++);
        this.bus.logger.warn('event consumer error, retrying', { group: this.group, error: (error as Error).message, retryInMs: delay });
        await sleep(delay);
      }
    }
  }

  private key(publisher: EventPublisher): string {
    return streamKey(this.stream, publisher);
  }

  private async ensureGroup(): Promise<void> {
    for (const publisher of this.sources) {
      try {
        await this.redis.xgroup('CREATE', this.key(publisher), this.group, '$', 'MKSTREAM');
      } catch (error) {
        if (!(error as Error).message.includes('BUSYGROUP')) throw error;
      }
    }
  }

  private async readGroup(id: string, blockMs: number): Promise<StreamReply> {
    const count = this.options.batch ?? 50;
    const args: (string | number)[] = ['GROUP', this.group, this.consumer, 'COUNT', count];
    if (blockMs > 0) args.push('BLOCK', blockMs);
    args.push('STREAMS', ...this.sources.map((p) => this.key(p)), ...this.sources.map(() => id));
    return (await this.redis.call('XREADGROUP', ...args)) as StreamReply;
  }

  private async handleReply(reply: StreamReply): Promise<void> {
    for (const [key, entries] of reply ?? []) {
      const publisher = this.sources.find((p) => this.key(p) === key);
      if (publisher) await this.handleBatch(publisher, entries);
    }
  }

  private async reclaim(minIdleMs: number): Promise<void> {
    for (const publisher of this.sources) {
      let cursor = '0-0';
      for (let round = 0; round < 10; round++) {
        const reply = (await this.redis.call('XAUTOCLAIM', this.key(publisher), this.group, this.consumer, minIdleMs, cursor, 'COUNT', 100)) as [string, Entry[]];
        await this.handleBatch(publisher, reply[1]);
        cursor = reply[0];
        if (cursor === '0-0') break;
      }
    }
  }

  /**
   * A batch's notices are handled together and acknowledged together. A notice means "reload": the
   * services fold them into coalesced runs, so a backlog (a node back after downtime replays its
   * group's, a burst of transitions) costs a reload or two; one at a time it cost a full reload per
   * notice, in turn, with a fresh notice (a proxy down) waiting behind them all. A notice whose
   * handler failed stays pending (reclaimed later); the first failure is thrown, as before.
   */
  private async handleBatch(publisher: EventPublisher, entries: Entry[]): Promise<void> {
    const key = this.key(publisher);
    const outcomes = await Promise.allSettled(
      entries.map(async ([id, fields]) => {
        // XAUTOCLAIM returns deleted (trimmed) entries as null fields: nothing to handle, just ack.
        if (fields === null) return id;
        const decoded = decodeEvent(id, fields, publisher);
        // A malformed or misplaced notice would otherwise be redelivered forever; the resync covers its meaning.
        if ('error' in decoded) this.bus.logger.error('dropping malformed event', { stream: key, id, error: decoded.error });
        else await this.options.handler(decoded);
        return id;
      }),
    );
    const handled = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    if (handled.length > 0) await this.redis.xack(key, this.group, ...handled);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}

function settledOrTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
