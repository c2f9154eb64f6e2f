import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { createLogger } from '@pgw/log';
import { Registry } from 'prom-client';
import type { RefusalReading } from './client-refusal-reading.js';
import { ClientRefusals, type RefusalKind } from './client-refusals.js';
import { flowCapRefusals, tcpRateRefusals } from './refusal-kinds.js';

function harness(readings: (RefusalReading | null | Error)[], perClient = false, kind: RefusalKind = flowCapRefusals(16)) {
  const registry = new Registry();
  const logger = createLogger('client-refusals-spec', 'error');
  const warn = mock.method(logger, 'warn', () => logger);
  const info = mock.method(logger, 'info', () => logger);
  let perClientMetrics = perClient;
  const refusals = new ClientRefusals({
    kind,
    read: async () => {
      const next = readings.shift();
      if (next instanceof Error) throw next;
      return next ?? null;
    },
    perClientMetrics: () => perClientMetrics,
    registry,
    logger,
  });
  const value = async (name: string, client?: string) => (await registry.getSingleMetric(name)!.get()).values.find((v) => client === undefined || v.labels.client === client)?.value;
  return { refusals, value, warn, info, setPerClient: (on: boolean) => (perClientMetrics = on) };
}
const reading = (table: number, counts: Record<string, number>): RefusalReading => ({ table, counts: new Map(Object.entries(counts)) });

describe('ClientRefusals', () => {
  it('adds each interval\'s refusals to the total, across a re-created table, and is 0 before any', async () => {
    const h = harness([reading(3, { '192.168.2.10': 5 }), reading(3, { '192.168.2.10': 9 }), reading(4, { '192.168.2.10': 2, '192.168.2.11': 1 })]);
    assert.equal(await h.value('pgw_clients_over_flow_cap_total'), 0);
    for (let i = 0; i < 3; i++) await h.refusals.tick();
    assert.equal(await h.value('pgw_clients_over_flow_cap_total'), 5 + 4 + 3);
    assert.equal((await h.value('pgw_client_over_flow_cap_total')), undefined, 'no per-client series without the setting');
  });

  it('counts per client only while per_client_metrics is on, and drops those series when it goes off', async () => {
    const h = harness([reading(3, { '192.168.2.10': 5 }), reading(3, { '192.168.2.10': 7, '192.168.2.11': 1 }), reading(3, { '192.168.2.10': 8 })], true);
    await h.refusals.tick();
    await h.refusals.tick();
    assert.equal(await h.value('pgw_client_over_flow_cap_total', '192.168.2.10'), 7);
    assert.equal(await h.value('pgw_client_over_flow_cap_total', '192.168.2.11'), 1);
    h.setPerClient(false);
    await h.refusals.tick();
    assert.equal(await h.value('pgw_client_over_flow_cap_total'), undefined);
    assert.equal(await h.value('pgw_clients_over_flow_cap_total'), 9);
  });

  it('names the refused clients, the most refused first, at most once a minute, and nothing when none was refused', async () => {
    const h = harness([reading(3, {}), reading(3, { '192.168.2.10': 2, '192.168.2.11': 40 }), reading(3, { '192.168.2.10': 5, '192.168.2.11': 40 }), reading(3, { '192.168.2.10': 6, '192.168.2.11': 40 })]);
    await h.refusals.tick(0);
    assert.equal(h.warn.mock.callCount(), 0);
    await h.refusals.tick(1_000);
    assert.equal(h.warn.mock.callCount(), 1);
    const [message, meta] = h.warn.mock.calls[0]!.arguments as unknown as [string, { cap: number; refused: Record<string, number> }];
    assert.match(message, /refused new connections at their cap/);
    assert.deepEqual(meta, { cap: 16, refused: { '192.168.2.11': 40, '192.168.2.10': 2 } });
    assert.deepEqual(Object.keys(meta.refused), ['192.168.2.11', '192.168.2.10']);
    await h.refusals.tick(30_000);
    assert.equal(h.warn.mock.callCount(), 1, 'within the minute: kept for the next line');
    await h.refusals.tick(61_000);
    assert.equal(h.warn.mock.callCount(), 2);
    assert.deepEqual((h.warn.mock.calls[1]!.arguments as unknown as [string, { refused: Record<string, number> }])[1].refused, { '192.168.2.10': 4 });
  });

  it('reads once at a time: a tick while a read runs is skipped (a late older reading counted everything again)', async () => {
    const registry = new Registry();
    const logger = createLogger('client-refusals-spec', 'error');
    const pending: ((r: RefusalReading) => void)[] = [];
    const refusals = new ClientRefusals({ kind: flowCapRefusals(16), read: () => new Promise((resolve) => pending.push(resolve)), perClientMetrics: () => false, registry, logger });
    const total = async () => (await registry.getSingleMetric('pgw_clients_over_flow_cap_total')!.get()).values[0]!.value;
    await (async () => {
      const first = refusals.tick();
      const second = refusals.tick();
      assert.equal(pending.length, 1, 'no second read while the first runs');
      pending[0]!(reading(3, { '192.168.2.10': 1000 }));
      await Promise.all([first, second]);
    })();
    const third = refusals.tick();
    assert.equal(pending.length, 2);
    pending[1]!(reading(3, { '192.168.2.10': 1020 }));
    await third;
    assert.equal(await total(), 1020);
  });

  it('drops the per-client series of clients a new table instance has not refused', async () => {
    const h = harness([reading(3, { '192.168.2.10': 5, '192.168.2.11': 2 }), reading(4, { '192.168.2.11': 1 })], true);
    await h.refusals.tick();
    await h.refusals.tick();
    assert.equal(await h.value('pgw_client_over_flow_cap_total', '192.168.2.10'), undefined);
    assert.equal(await h.value('pgw_client_over_flow_cap_total', '192.168.2.11'), 3);
  });

  it('logs a failed read once until it reads again; nothing is counted from a missing table', async () => {
    const h = harness([new Error('nft: no such binary'), new Error('nft: no such binary'), null, reading(3, { '192.168.2.10': 1 })]);
    await h.refusals.tick();
    await h.refusals.tick();
    assert.equal(h.warn.mock.callCount(), 1);
    assert.match(String(h.warn.mock.calls[0]!.arguments[0]), /cannot read the flow cap refusals/);
    await h.refusals.tick();
    assert.equal(h.info.mock.callCount(), 1);
    assert.equal(await h.value('pgw_clients_over_flow_cap_total'), 0);
    await h.refusals.tick();
    assert.equal(await h.value('pgw_clients_over_flow_cap_total'), 1);
  });

  it('flow 25\'s kind: its own metrics, its warning naming the rate, its read-failure line', async () => {
    const h = harness([new Error('nft: no such binary'), reading(3, { '192.168.2.10': 250 })], true, tcpRateRefusals(50));
    await h.refusals.tick();
    assert.match(String(h.warn.mock.calls[0]!.arguments[0]), /cannot read the TCP rate refusals/);
    await h.refusals.tick();
    assert.equal(await h.value('pgw_clients_over_tcp_rate_total'), 250);
    assert.equal(await h.value('pgw_client_over_tcp_rate_total', '192.168.2.10'), 250);
    const [message, meta] = h.warn.mock.calls[1]!.arguments as unknown as [string, Record<string, unknown>];
    assert.match(message, /faster than their rate.*PGW_TCP_NEW_PER_CLIENT/);
    assert.deepEqual(meta, { ratePerSecond: 50, refused: { '192.168.2.10': 250 } });
  });
});
