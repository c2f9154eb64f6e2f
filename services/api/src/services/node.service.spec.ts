import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentStatus, HaStatus } from '@pgw/events';
import { type NodeStatus, servingNode } from '../reports/component-status-reader.js';
import { gatewayNodes } from './node.service.js';

const agent = (at: number): AgentStatus => ({ ok: true, at: new Date(at), durationMs: 1, appliedMappings: 1, blocked: {}, rejected: [], refusals: [], error: null });
const ha = (state: HaStatus['state']): HaStatus => ({ state, since: new Date(1_000), priority: 100 });
const node = (name: string, haStatus: HaStatus | null, agentAt: number | null = 1_000): NodeStatus => ({ name, lastSeenAt: new Date(2_000), agent: agentAt === null ? null : agent(agentAt), forwarder: null, ha: haStatus });

test('one node without HA: no master, no conflict, no HA', () => {
  assert.deepEqual(gatewayNodes([node('gw', null)]), { items: [{ name: 'gw', haState: null, since: null, priority: null, lastSeenAt: new Date(2_000).toISOString(), agent: { ok: true, at: new Date(1_000).toISOString(), appliedMappings: 1, error: null }, forwarder: null }], ha: false, master: null, conflict: false });
});

test('a pair: the one MASTER is the master; two MASTERs are a conflict with no master', () => {
  const pair = gatewayNodes([node('a', ha('MASTER')), node('b', ha('BACKUP'))]);
  assert.deepEqual([pair.ha, pair.master, pair.conflict], [true, 'a', false]);
  const split = gatewayNodes([node('a', ha('MASTER')), node('b', ha('MASTER'))]);
  assert.deepEqual([split.master, split.conflict], [null, true]);
  const noneYet = gatewayNodes([node('a', ha(null)), node('b', ha('FAULT'))]);
  assert.deepEqual([noneYet.ha, noneYet.master, noneYet.conflict], [true, null, false]);
});

test("the records that say what clients get are the master's, else the latest agent's", () => {
  assert.equal(servingNode([node('a', ha('MASTER'), 1_000), node('b', ha('BACKUP'), 9_000)])?.name, 'a');
  assert.equal(servingNode([node('a', ha('MASTER'), 1_000), node('b', ha('MASTER'), 9_000)])?.name, 'b');
  assert.equal(servingNode([node('a', null, 5_000), node('b', null, null)])?.name, 'a');
  assert.equal(servingNode([]), undefined);
});
