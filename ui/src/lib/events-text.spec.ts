import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeEvent } from './events-text.js';

const name = (id: number) => (id === 7 ? 'dante-a' : `#${id}`);

test('a proxy going down names the proxy and the probe error', () => {
  const text = describeEvent(
    { type: 'proxy.status', proxyId: 7, status: 'down', previous: 'up', latencyMs: null, exitIp: null, error: 'connect ECONNREFUSED', at: '' },
    name,
  );
  assert.equal(text, 'Proxy dante-a up → down: connect ECONNREFUSED');
});

test('a failed reconcile says the rules were not applied and why', () => {
  const text = describeEvent(
    { type: 'agent.reconciled', ok: false, durationMs: 3, appliedMappings: 0, blockedClients: 0, error: 'nft: syntax error', at: '' },
    name,
  );
  assert.equal(text, 'Rules NOT applied: nft: syntax error');
});

test('an applied reconcile counts effective mappings and blocked clients in words', () => {
  const applied = (appliedMappings: number, blockedClients: number) =>
    describeEvent({ type: 'agent.reconciled', ok: true, durationMs: 12.4, appliedMappings, blockedClients, error: null, at: '' }, name);
  assert.equal(applied(0, 1), 'Rules applied in 12 ms: 0 mappings effective, 1 client blocked');
  assert.equal(applied(1, 2), 'Rules applied in 12 ms: 1 mapping effective, 2 clients blocked');
});

test('an exit-IP change names the proxy, the old and the new address', () => {
  const text = describeEvent({ type: 'proxy.exit_ip_changed', proxyId: 7, name: 'dante-a', previous: '203.0.113.5', exitIp: '203.0.113.9', at: '' }, name);
  assert.equal(text, 'Proxy dante-a exit IP changed: 203.0.113.5 → 203.0.113.9');
});
