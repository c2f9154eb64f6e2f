import type { AgentStatus, ClientUsageSample } from '@pgw/events';
import type { MappingQuota } from '../contract/types.js';
import type { MappingWithProxy } from './mapping-shapes.js';

/** What the kernel counted against one client's quota, from the agents' usage samples. */
export interface ClientQuotaCount {
  readonly epoch: number;
  readonly usedBytes: number;
  readonly over: boolean;
}
export type QuotaCounts = ReadonlyMap<string, ClientQuotaCount>;

/**
 * Each client's quota count from the fresh samples of every node. In an HA pair only the master
 * forwards, so the larger count is the client's; a count of another epoch (before a reset the agent
 * has not applied yet) is kept apart by quotaOf.
 */
export function quotaCounts(samples: readonly ClientUsageSample[]): QuotaCounts {
  const counts = new Map<string, ClientQuotaCount>();
  for (const sample of samples) {
    for (const [ip, client] of Object.entries(sample.clients)) {
      if (!client.quota) continue;
      const known = counts.get(ip);
      if (known && known.epoch === client.quota.epoch && known.usedBytes >= client.quota.usedBytes) continue;
      if (known && known.epoch > client.quota.epoch) continue;
      counts.set(ip, { epoch: client.quota.epoch, usedBytes: client.quota.usedBytes, over: client.overQuota });
    }
  }
  return counts;
}

type QuotaFacts = Pick<MappingWithProxy, 'clientIp' | 'quotaBytes' | 'quotaEpoch'>;

/**
 * The quota as the console shows it. The count is the current epoch's only: right after a reset the
 * old count is not shown as the new one's. Without a count, "exceeded" is what the agent's last
 * reconcile blocked the client for.
 */
export function quotaOf(row: QuotaFacts, agent: AgentStatus | null, counts: QuotaCounts): MappingQuota {
  if (row.quotaBytes === null) return { epoch: row.quotaEpoch, usedBytes: null, exceeded: false };
  const count = counts.get(row.clientIp);
  const current = count?.epoch === row.quotaEpoch ? count : undefined;
  return {
    epoch: row.quotaEpoch,
    usedBytes: current?.usedBytes ?? null,
    exceeded: current ? current.over : count === undefined && agent?.blocked[row.clientIp] === 'quota_exceeded',
  };
}
