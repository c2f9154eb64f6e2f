import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentStatus } from '@pgw/events';
import { mappingState } from './mapping-state.js';

const at = new Date('2025-01-01T00:00:10Z');
const agent = (overrides: Partial<AgentStatus> = {}): AgentStatus => ({
  ok: true, at, durationMs: 3, appliedMappings: 1, blocked: {}, rejected: [], refusals: [], error: null, ...overrides,
});
const mapping = { id: 7, clientIp: '192.168.2.10', enabled: true, updatedAt: '2025-01-01T00:00:05.000Z' };

test('effective only when the agent has applied it and not blocked it', () => {
  assert.deepEqual(mappingState(mapping, 'up', agent()), { state: 'effective', reason: null });
});

test('every other state carries a reason', () => {
  assert.deepEqual(mappingState(mapping, 'up', null), { state: 'not_applied', reason: 'agent_unavailable' });
  assert.deepEqual(mappingState(mapping, 'up', agent({ ok: false, error: 'nft failed' })), { state: 'not_applied', reason: 'agent_error' });
  assert.deepEqual(mappingState(mapping, 'up', agent({ rejected: [{ mappingId: 7, reason: 'invalid client_ip' }] })), { state: 'not_applied', reason: 'rejected' });
  assert.deepEqual(mappingState({ ...mapping, updatedAt: '2025-01-01T00:00:11.000Z' }, 'up', agent()), { state: 'not_applied', reason: 'pending' });
  assert.deepEqual(mappingState(mapping, 'down', agent({ blocked: { '192.168.2.10': 'proxy_down' } })), { state: 'blocked', reason: 'proxy_down' });
  assert.deepEqual(mappingState({ ...mapping, enabled: false }, 'up', agent()), { state: 'blocked', reason: 'mapping_disabled' });
  // The proxy went down after the last reconcile: the block is not in place yet.
  assert.deepEqual(mappingState(mapping, 'down', agent()), { state: 'not_applied', reason: 'pending' });
});
