import type { GatewayPolicy } from '@pgw/domain';
import type { ClientUsageSampleRecord } from '@pgw/events';
import type { QuotaPeriodWindow } from '../quota/quota-period.js';
import { type QuotaTableReading, quotaName } from '../quota/quota-table.js';

export interface SampleInput {
  readonly node: string;
  readonly policy: GatewayPolicy;
  readonly window: QuotaPeriodWindow;
  readonly reading: QuotaTableReading;
  readonly sampledAt: Date;
  readonly sampleMs: number;
}

/**
 * The contract's usage sample (@pgw/events client-usage) from one listing of table inet pgw_quota:
 * every mapped client, counters as the kernel holds them (a client the kernel has no element for
 * yet, such as one mapped a moment ago, counts 0). Pure.
 */
export function buildUsageSample({ node, policy, window, reading, sampledAt, sampleMs }: SampleInput): ClientUsageSampleRecord {
  const clients: ClientUsageSampleRecord['clients'] = {};
  for (const c of policy.clients) {
    const up = reading.counters.up.get(c.ip);
    const down = reading.counters.down.get(c.ip);
    const flows = reading.counters.flows.get(c.ip);
    const limit = c.shaping?.quotaBytes ?? null;
    const object = limit === null ? undefined : reading.quotas.get(quotaName(c.mappingId, c.shaping!.quotaEpoch, window.key));
    const used = object?.used ?? 0;
    clients[c.ip] = {
      mappingId: c.mappingId,
      bytesUp: up?.bytes ?? 0,
      bytesDown: down?.bytes ?? 0,
      // The new-flows set counts the first packet of each: its packets are connections.
      connections: flows?.packets ?? 0,
      quota:
        limit === null
          ? null
          : { limitBytes: limit, usedBytes: used, epoch: c.shaping!.quotaEpoch, period: window.period, periodStart: window.start.toISOString(), resetsAt: window.end.toISOString() },
      overQuota: limit !== null && used >= limit,
    };
  }
  const since = reading.since === null ? sampledAt : new Date(reading.since * 1000);
  return { node, sampledAt: sampledAt.toISOString(), countersSince: since.toISOString(), sampleMs: Math.round(sampleMs * 10) / 10, clients };
}
