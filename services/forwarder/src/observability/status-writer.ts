import type { Logger } from '@pgw/log';
import type { Redis } from 'ioredis';
import type { Forwarder } from '../tcp/forwarder.js';
import type { ConnectionLimits } from '../tcp/connection-limits.js';
import type { ForwarderStats } from '../tcp/forwarder-stats.js';
import { type ForwarderStatusRecord, forwarderStatusKey, STATUS_TTL_S } from '@pgw/events/contracts';
import { buildStatus } from './status.js';

/** Refreshes the node's status key well inside its TTL; a Redis outage is logged once per outage. */
export function startStatusWriter(redis: Redis, node: string, forwarder: Forwarder, limits: ConnectionLimits, stats: ForwarderStats, logger: Logger, intervalMs = 5_000, udp: (() => ForwarderStatusRecord['udp']) | null = null): { stop(): void; writeNow(): Promise<void> } {
  /** One definition of the key, with the record's schema, in @pgw/events (docs/contracts.md). */
  const STATUS_KEY = forwarderStatusKey(node);
  let failing = false;
  const writeNow = async () => {
    const status = buildStatus(
      new Date(),
      limits.activeConnections,
      [...forwarder.perMapping()].map(([id, listener]) => [id, listener.activeConnections] as const),
      stats.refusals,
    );
    if (udp !== null) status.udp = udp();
    try {
      await redis.set(STATUS_KEY, JSON.stringify(status), 'EX', STATUS_TTL_S);
      if (failing) logger.info('status key written again');
      failing = false;
    } catch (error) {
      if (!failing) logger.warn('cannot write the status key', { key: STATUS_KEY, error: (error as Error).message });
      failing = true;
    }
  };
  const timer = setInterval(() => void writeNow(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), writeNow };
}
