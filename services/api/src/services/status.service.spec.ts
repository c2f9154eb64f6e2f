import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentStatus, ForwarderStatus } from '@pgw/events';
import { ReadCache } from './read-cache.js';
import { StatusService } from './status.service.js';

const counts = async () => ({ proxies: { up: 3, down: 1, unknown: 1 }, mappings: { total: 10, enabled: 9 } });
const at = new Date('2026-01-01T00:00:00.000Z');

test('the dashboard sums up Postgres and what the agent and the forwarder report', async () => {
  const agent: AgentStatus = { ok: true, at, durationMs: 4, appliedMappings: 8, blocked: { '192.168.2.10': 'proxy_down', '192.168.2.11': 'mapping_disabled' }, rejected: [], refusals: [], error: null };
  const forwarder: ForwarderStatus = { at, activeConnections: 7, perMapping: { '1': 7 }, listeners: 9, refused: { destination_loopback: 2 } };
  const status = await new StatusService({ counts, components: async () => ({ agent, forwarder }), cache: new ReadCache(100) }).dashboard();
  assert.deepEqual(status, {
    proxies: { total: 5, up: 3, down: 1, unknown: 1 },
    mappings: { total: 10, enabled: 9 },
    clientsBlocked: 2,
    activeConnections: 7,
    agent: { ok: true, lastReconcileAt: '2026-01-01T00:00:00.000Z', durationMs: 4, appliedMappings: 8, error: null, refusals: [] },
    forwarder: { at: '2026-01-01T00:00:00.000Z', activeConnections: 7, listeners: 9, refused: { destination_loopback: 2 } },
  });
});

test('an agent or forwarder that reports nothing is unknown (null), not zero', async () => {
  const status = await new StatusService({ counts, components: async () => ({ agent: null, forwarder: null }), cache: new ReadCache(100) }).dashboard();
  assert.deepEqual([status.clientsBlocked, status.activeConnections, status.agent, status.forwarder], [null, null, null, null]);
});
