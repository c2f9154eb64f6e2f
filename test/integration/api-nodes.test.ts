// GET /api/v1/nodes (issue 18) against the real api, Postgres and Redis: the gateway nodes as their
// agents and forwarders report them under their own keys, which node is master, and the split-brain
// flag; the dashboard and the mappings' effective state follow the master's records. Every response
// is checked against API_SPEC.yaml by the harness.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AgentStatusRecord, connectRedis, type ForwarderStatusRecord, type HaStatusRecord } from '@pgw/events';
import type { Redis } from 'ioredis';
import { writeNodeStatus } from '../support/node-status.js';
import { type ApiHarness, type Session, VIEWER } from './api-harness.js';
import { ApiStack } from './api-stack.js';

describe('api: gateway nodes', { timeout: 120_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let redis: Redis;
  let viewer: Session;
  /** Past the api's read cache (100 ms, services/api-services.ts): the answer reflects the records just written. */
  const list = async () => {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const res = await h.call('GET', '/api/v1/nodes', { auth: { bearer: viewer.token } });
    assert.equal(res.status, 200);
    return res.body as { items: { name: string; haState: string | null; since: string | null; priority: number | null; agent: { ok: boolean } | null; forwarder: { activeConnections: number } | null }[]; ha: boolean; master: string | null; conflict: boolean };
  };
  const at = () => new Date().toISOString();
  const agent = (appliedMappings: number, blocked: Record<string, string> = {}): AgentStatusRecord => ({ ok: true, at: at(), durationMs: 3, appliedMappings, blocked, rejected: [], error: null });
  const forwarder = (activeConnections: number): ForwarderStatusRecord => ({ at: at(), activeConnections, perMapping: {}, listeners: 1 });
  const ha = (state: HaStatusRecord['state'], priority: number): HaStatusRecord => ({ state, since: at(), priority });

  before(async () => {
    stack = await ApiStack.start();
    h = stack.harness;
    redis = connectRedis(stack.redis.adminUrl); // stands in for both nodes' agents and forwarders
    viewer = await h.login(VIEWER);
  });
  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('no node has reported: an empty list, no HA, no conflict', async () => {
    assert.deepEqual(await list(), { items: [], ha: false, master: null, conflict: false });
  });

  it('lists both nodes of a pair by name with their own records: the master, the backup, no conflict', async () => {
    await writeNodeStatus(redis, { agent: agent(2), forwarder: forwarder(5), ha: ha('MASTER', 150) }, 'pgw-a');
    await writeNodeStatus(redis, { agent: agent(2, { '192.168.2.10': 'proxy_down' }), forwarder: forwarder(0), ha: ha('BACKUP', 100) }, 'pgw-b');
    const nodes = await list();
    assert.deepEqual(nodes.items.map((n) => [n.name, n.haState, n.priority, n.agent?.ok, n.forwarder?.activeConnections]), [
      ['pgw-a', 'MASTER', 150, true, 5],
      ['pgw-b', 'BACKUP', 100, true, 0],
    ]);
    assert.deepEqual([nodes.ha, nodes.master, nodes.conflict], [true, 'pgw-a', false]);
    // The dashboard shows the master's records, not whichever node wrote last (b did).
    const status = await h.call('GET', '/api/v1/status', { auth: { bearer: viewer.token } });
    assert.deepEqual([status.body.activeConnections, status.body.clientsBlocked], [5, 0]);
  });

  it('both claim MASTER (split brain): conflict, no master; it clears when one steps back', async () => {
    await writeNodeStatus(redis, { ha: ha('MASTER', 100) }, 'pgw-b');
    assert.deepEqual(await list().then((n) => [n.master, n.conflict]), [null, true]);
    await writeNodeStatus(redis, { ha: ha('BACKUP', 100) }, 'pgw-b');
    assert.deepEqual(await list().then((n) => [n.master, n.conflict]), ['pgw-a', false]);
  });

  it('a node whose records expired (agent and forwarder down) stays listed with nothing known about it', async () => {
    await redis.del('pgw:agent:status:pgw-a', 'pgw:forwarder:status:pgw-a', 'pgw:ha:pgw-a');
    const nodes = await list();
    assert.deepEqual(nodes.items.find((n) => n.name === 'pgw-a'), { ...nodes.items.find((n) => n.name === 'pgw-a')!, haState: null, since: null, priority: null, agent: null, forwarder: null });
    assert.deepEqual([nodes.master, nodes.conflict], [null, false]);
  });

  it('a malformed record reads as unknown, never as a state', async () => {
    await redis.set('pgw:ha:pgw-b', JSON.stringify({ state: 'LEADER', since: null, priority: 1 }), 'EX', 60);
    assert.equal((await list()).items.find((n) => n.name === 'pgw-b')?.haState, null);
  });

  it('anonymous is refused', async () => {
    assert.equal((await h.call('GET', '/api/v1/nodes')).status, 401);
  });
});
