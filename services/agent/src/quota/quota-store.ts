import type { ClientUsageSample } from '@pgw/events';
import type { QuotaPeriodWindow } from './quota-period.js';
import { quotaName } from './quota-table.js';

/**
 * The stored quota counts (issue 16): what every node last published in its usage sample (Redis
 * hash pgw:usage, written by the agents themselves), so that a rebooted agent, or the other node
 * of an HA pair after a failover, continues a client's count instead of starting it from zero.
 *
 * Why the agents' own record and not the api's usage history in Postgres: the sample holds exactly
 * the kernel's quota count per (mapping, epoch, period), the key of a quota object, while the
 * history holds accounting bytes per UTC bucket with neither epoch nor period start (a reset or a
 * zone with a half-hour offset cannot be told from it); and reading it would give the agent's
 * Postgres role its first grant on a table the api writes. The agent's Redis user already writes
 * the hash; it gains only a read of it. Redis keeps it across a reboot (appendonly in the Compose
 * stack; Debian's redis-server saves on shutdown) and the nodes of an HA pair share it.
 *
 * Pure: the samples and the period in force in, quota object name -> the largest count any node
 * published for it. Only counts of the same period (same kind and start instant) are taken: a
 * count of an earlier period, or of another epoch (the name differs), never carries over.
 */
export function storedQuotaCounts(samples: readonly ClientUsageSample[], window: QuotaPeriodWindow): Map<string, number> {
  const counts = new Map<string, number>();
  for (const sample of samples) {
    for (const usage of Object.values(sample.clients)) {
      const quota = usage.quota;
      if (quota === null || quota.period !== window.period || quota.periodStart.getTime() !== window.start.getTime()) continue;
      const name = quotaName(usage.mappingId, quota.epoch, window.key);
      counts.set(name, Math.max(counts.get(name) ?? 0, quota.usedBytes));
    }
  }
  return counts;
}
