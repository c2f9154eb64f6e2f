import assert from 'node:assert/strict';
import { type ClientUsageSample, parseClientUsageSample } from '@pgw/events';
import { quotaPeriodAt } from '../../services/agent/src/quota/quota-period.js';

/**
 * A node's published usage sample (Redis hash pgw:usage) holding one client's quota count in the
 * period of `at`, as the agent writes it: what a Shaper's seed() takes as the stored counts.
 */
export function quotaUsageSample(client: { mappingId: number; ip: string; usedBytes: number; limitBytes: number }, at: number, settings: { period: 'monthly' | 'daily'; timeZone: string }): ClientUsageSample {
  const window = quotaPeriodAt(new Date(at), settings.period, settings.timeZone);
  const sample = parseClientUsageSample(
    JSON.stringify({
      node: 'gw-a',
      sampledAt: new Date(at - 1_000).toISOString(),
      countersSince: new Date(at - 3_600_000).toISOString(),
      sampleMs: 1,
      clients: {
        [client.ip]: {
          mappingId: client.mappingId, bytesUp: 0, bytesDown: client.usedBytes, connections: 1, overQuota: false,
          quota: { limitBytes: client.limitBytes, usedBytes: client.usedBytes, epoch: 0, period: settings.period, periodStart: window.start.toISOString(), resetsAt: window.end.toISOString() },
        },
      },
    }),
  );
  assert.ok(sample, 'the test sample is not a valid usage sample');
  return sample;
}
