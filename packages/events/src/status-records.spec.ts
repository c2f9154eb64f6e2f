import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AgentStatusRecord, type ForwarderStatusRecord, parseAgentStatus, parseForwarderStatus } from './status-records.js';

const agent: AgentStatusRecord = {
  ok: true, at: '2025-01-01T00:00:10.000Z', durationMs: 2, appliedMappings: 3, blocked: { '192.168.2.11': 'proxy_down' },
  rejected: [{ mappingId: 9, reason: 'invalid listen_port' }], refusals: [], error: null,
};

test('the agent record the agent writes is what the api reads, times as Date', () => {
  const parsed = parseAgentStatus(JSON.stringify(agent));
  assert.equal(parsed?.at.getTime(), Date.parse(agent.at));
  assert.deepEqual(parsed?.blocked, agent.blocked);
  assert.deepEqual(parsed?.rejected, agent.rejected);
});

test('a record the contract does not describe reads as unknown, never as a default', () => {
  assert.equal(parseAgentStatus('{not json'), null);
  assert.equal(parseAgentStatus(JSON.stringify({ ok: 'yes' })), null);
  assert.equal(parseAgentStatus(JSON.stringify({ ...agent, at: 'yesterday' })), null);
  assert.equal(parseAgentStatus(JSON.stringify({ ...agent, rejected: 0 })), null, 'a count of rejected rows was never written by the agent');
  assert.equal(parseAgentStatus(JSON.stringify({ ...agent, blocked: undefined })), null);
  assert.equal(parseAgentStatus(null), null);
});

test('fields added later default, so a reader accepts an older writer', () => {
  const { refusals: _r, rejected: _j, ...older } = agent;
  assert.deepEqual([parseAgentStatus(JSON.stringify(older))?.refusals, parseAgentStatus(JSON.stringify(older))?.rejected], [[], []]);
  const forwarder: ForwarderStatusRecord = { at: '2025-01-01T00:00:10.000Z', activeConnections: 3, perMapping: { '7': 3 }, listeners: 1 };
  assert.deepEqual(parseForwarderStatus(JSON.stringify(forwarder))?.refused, {});
  assert.equal(parseForwarderStatus(JSON.stringify({ ...forwarder, activeConnections: -1 })), null);
});
