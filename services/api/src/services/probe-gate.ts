import { PROBE_QUEUE, type ProbeJobData, type ProbeResult } from '@pgw/events';
import { connectRedis } from '@pgw/events';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Prober } from './ports.js';
import { DomainError, unavailable } from '../logic/domain-errors.js';

export interface ProbeGateOptions {
  redisUrl: string;
  /** BullMQ key prefix; the health service must use the same one. */
  prefix?: string;
}

/**
 * On-demand probes through the health service's BullMQ worker: add a job, wait for its result.
 * The api never dials proxies itself; it only asks and waits.
 */
export class ProbeGate implements Prober {
  private readonly connection: Redis;
  private readonly eventsConnection: Redis;
  private readonly queue: Queue<ProbeJobData, ProbeResult>;
  private readonly events: QueueEvents;

  constructor(options: ProbeGateOptions) {
    this.connection = connectRedis(options.redisUrl, { maxRetriesPerRequest: null });
    this.eventsConnection = connectRedis(options.redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', () => undefined);
    this.eventsConnection.on('error', () => undefined);
    const prefix = options.prefix ? { prefix: options.prefix } : {};
    // The health service owns the queue's meta (its Redis user may write it; the api's may not).
    this.queue = new Queue(PROBE_QUEUE, { connection: this.connection, skipMetasUpdate: true, ...prefix });
    this.events = new QueueEvents(PROBE_QUEUE, { connection: this.eventsConnection, ...prefix });
    this.queue.on('error', () => undefined);
    this.events.on('error', () => undefined);
  }

  /** Resolves once both connections are up (start-up, tests). */
  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  /** Resolves with the probe's result; unavailable when the queue is unreachable, probe_timeout when no result came in time. */
  async probe(proxyId: number, timeoutMs: number): Promise<ProbeResult> {
    if (this.connection.status !== 'ready' || this.eventsConnection.status !== 'ready') {
      throw unavailable('the probe queue (Redis) is unavailable; the proxy cannot be checked now');
    }
    await this.events.waitUntilReady();
    const job = await this.queue
      .add('on-demand', { proxyId, trigger: 'on_demand' }, { removeOnComplete: { age: 3600, count: 1000 }, removeOnFail: { age: 86_400 } })
      .catch((error: Error) => {
        // The api's Redis user may only queue jobs; the health service sets the queue up when it starts.
        throw unavailable(`the probe queue refused the job (has pgw-health started?): ${error.message}`);
      });
    try {
      return await job.waitUntilFinished(this.events, timeoutMs);
    } catch (error) {
      const message = (error as Error).message;
      if (/timed out/i.test(message)) {
        throw new DomainError('probe_timeout', `the health service did not report a probe result within ${timeoutMs} ms; is pgw-health running?`);
      }
      // The worker itself failed (not the proxy): still no evidence the proxy works, so fail closed.
      return { proxyId, ok: false, latencyMs: null, exitIp: null, error: `probe failed: ${message}`, checkedAt: new Date().toISOString() };
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    this.connection.disconnect();
    this.eventsConnection.disconnect();
  }
}
