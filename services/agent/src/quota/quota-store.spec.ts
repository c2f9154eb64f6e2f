import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientUsage, ClientUsageSample } from '@pgw/events';
import { quotaPeriodAt } from './quota-period.js';
import { storedQuotaCounts } from './quota-store.js';

const window = quotaPeriodAt(new Date('2026-12-01T18:00:00Z'), 'monthly', 'Europe/Berlin');
const usage = (mappingId: number, usedBytes: number, over: Partial<NonNullable<ClientUsage['quota']>> = {}): ClientUsage => ({
  mappingId,
  bytesUp: 0,
  bytesDown: 0,
  connections: 0,
  quota: { limitBytes: 10_000_000, usedBytes, epoch: 0, period: 'monthly', periodStart: window.start, resetsAt: window.end, ...over },
  overQuota: false,
});
const sample = (node: string, clients: Record<string, ClientUsage>): ClientUsageSample => ({ node, sampledAt: new Date(), countersSince: new Date(), sampleMs: 1, clients });

test('the largest count any node published, per quota object of the period in force', () => {
  const counts = storedQuotaCounts(
    [sample('gw-a', { '192.168.2.10': usage(10, 6_000_000), '192.168.2.11': usage(11, 100) }), sample('gw-b', { '192.168.2.10': usage(10, 5_000_000), '192.168.2.11': usage(11, 300) })],
    window,
  );
  assert.deepEqual([...counts], [['q10_0_m202612', 6_000_000], ['q11_0_m202612', 300]]);
});

test('counts of another epoch keep their own name; another period, a quota-less client and no sample give nothing', () => {
  const lastMonth = quotaPeriodAt(new Date('2026-11-15T12:00:00Z'), 'monthly', 'Europe/Berlin');
  const counts = storedQuotaCounts(
    [
      sample('gw-a', {
        '192.168.2.10': usage(10, 7_000_000, { epoch: 1 }),
        '192.168.2.11': usage(11, 9_000_000, { periodStart: lastMonth.start }),
        '192.168.2.12': usage(12, 9_000_000, { period: 'daily' }),
        '192.168.2.13': { ...usage(13, 0), quota: null },
      }),
    ],
    window,
  );
  assert.deepEqual([...counts], [['q10_1_m202612', 7_000_000]]);
  assert.equal(storedQuotaCounts([], window).size, 0);
});
