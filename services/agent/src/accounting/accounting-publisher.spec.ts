import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyClient } from '@pgw/domain';
import { createLogger } from '@pgw/log';
import { Registry } from 'prom-client';
import { gatewayPolicy, policyClient } from '../policy/policy-fixtures.js';
import { quotaPeriodAt } from '../quota/quota-period.js';
import { EMPTY_READING, type QuotaTableReading } from '../quota/quota-table.js';
import { AccountingPublisher } from './accounting-publisher.js';

const GB = 1e9;
const window = quotaPeriodAt(new Date('2026-12-07T12:00:00Z'), 'monthly', 'UTC');

/** The kernel's table inet pgw_acct as a test sets it: bytes up per client IP, counted since `since`. */
interface Kernel {
  clients: PolicyClient[];
  up: Record<string, number>;
  since: number;
}

function reading(kernel: Kernel): QuotaTableReading {
  const counters = (bytes: (ip: string) => number) => new Map(Object.keys(kernel.up).map((ip) => [ip, { bytes: bytes(ip), packets: 1 }]));
  return { ...EMPTY_READING, since: kernel.since, counters: { up: counters((ip) => kernel.up[ip]!), down: counters(() => 0), flows: counters(() => 0) } };
}

/** An agent process: its publisher over the shared kernel, and its exported pgw_clients_bytes_total{direction="up"}. */
function agentProcess(kernel: Kernel) {
  const registry = new Registry();
  const publisher = new AccountingPublisher({
    node: 'gw-a',
    perClientMetrics: () => false,
    registry,
    logger: createLogger('accounting-spec', 'error'),
    publish: async () => undefined,
    shaper: { get applied() { return { policy: gatewayPolicy(kernel.clients), window }; }, sample: async () => ({ reading: reading(kernel), ms: 1 }) },
  });
  const up = async () => (await registry.getSingleMetric('pgw_clients_bytes_total')!.get()).values.find((v) => v.labels.direction === 'up')!.value;
  return { publisher, up };
}

/** What Prometheus' increase() takes from one value to the next: a lower value is a reset, counted whole. */
const increase = (before: number, after: number) => (after < before ? after : after - before);

describe('AccountingPublisher: pgw_clients_bytes_total', () => {
  const ten = policyClient(10);
  const eleven = policyClient(11);

  it('grows by the traffic between samples; a client mapped later counts from its zero', async () => {
    const kernel: Kernel = { clients: [ten], up: { [ten.ip]: 5 * GB }, since: 1_700_000_000 };
    const agent = agentProcess(kernel);
    await agent.publisher.tick();
    const start = await agent.up();
    kernel.up[ten.ip]! += 1_000;
    kernel.clients = [ten, eleven];
    kernel.up[eleven.ip] = 300;
    await agent.publisher.tick();
    assert.equal((await agent.up()) - start, 1_300);
  });

  it('across an agent restart (the kernel keeps its counters) Prometheus sees the traffic, not the counters since the table was made', async () => {
    const kernel: Kernel = { clients: [ten, eleven], up: { [ten.ip]: 10 * GB, [eleven.ip]: 10 * GB }, since: 1_700_000_000 };
    const first = agentProcess(kernel);
    await first.publisher.tick();
    kernel.up[ten.ip]! += 2_000;
    await first.publisher.tick();
    // Mapping 11 removed: its counters go with its set element.
    kernel.clients = [ten];
    delete kernel.up[eleven.ip];
    await first.publisher.tick();
    const beforeRestart = await first.up();
    const second = agentProcess(kernel);
    kernel.up[ten.ip]! += 1_000;
    await second.publisher.tick();
    kernel.up[ten.ip]! += 500;
    await second.publisher.tick();
    const seen = increase(beforeRestart, await second.up());
    assert.ok(seen <= 1_500, `Prometheus counted ${seen / GB} GB across the restart, the clients moved ${1_500 / GB} GB`);
  });
});
