// The state text's source for fail policy backup (issue 17): what the agent applied decides it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentStatus } from '@pgw/events';
import { mappingState } from './mapping-state.js';

const at = new Date('2025-01-01T00:00:10Z');
const agent = (overrides: Partial<AgentStatus> = {}): AgentStatus => ({ ok: true, at, durationMs: 3, appliedMappings: 1, blocked: {}, rejected: [], refusals: [], error: null, ...overrides });
const mapping = { id: 7, clientIp: '192.168.2.10', enabled: true, updatedAt: '2025-01-01T00:00:05.000Z' };

test('own proxy down, the agent applied a backup: effective on that backup', () => {
  assert.deepEqual(mappingState(mapping, 'down', agent({ onBackup: { '192.168.2.10': 4 } })), { state: 'effective', reason: 'on_backup', backupProxyId: 4 });
});

test('the agent blocked it (every backup down too): blocked, whatever else it says', () => {
  assert.deepEqual(mappingState(mapping, 'down', agent({ blocked: { '192.168.2.10': 'proxy_down' } })), { state: 'blocked', reason: 'proxy_down' });
});

test('changed after the reconcile, or disabled: not shown as on a backup', () => {
  assert.deepEqual(mappingState({ ...mapping, updatedAt: '2025-01-01T00:00:11.000Z' }, 'down', agent({ onBackup: { '192.168.2.10': 4 } })), { state: 'not_applied', reason: 'pending' });
  assert.deepEqual(mappingState({ ...mapping, enabled: false }, 'down', agent({ onBackup: { '192.168.2.10': 4 } })), { state: 'blocked', reason: 'mapping_disabled' });
});
