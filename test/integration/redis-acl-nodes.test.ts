// An HA pair's per-node Redis users (issue 18), against a real redis-server with the aclfile the lab
// renders from @pgw/events redis-acl.ts: node a's agent and forwarder write node a's status, HA state
// and neighbour table, and are refused (NOPERM) on node b's; the shared agent and forwarder users are
// gone; the api reads both nodes' neighbour tables as one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { agentNeighboursKey, agentStatusKey, connectRedis, forwarderStatusKey, haStatusKey, NODES_KEY, type NeighbourRecordInput } from '@pgw/events';
import type { Redis } from 'ioredis';
import { readNeighbours } from '../../services/api/src/reports/neighbour-reader.js';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';

const NODES = ['pgw-a', 'pgw-b'] as const;

describe('Redis ACL: one agent and one forwarder user per HA node', () => {
  let dir: string;
  let redis: RedisHandle;
  const clients: Redis[] = [];
  const connect = (url: string, once = false): Redis => {
    const client = connectRedis(url, { maxRetriesPerRequest: 1, ...(once ? { retryStrategy: () => null } : {}) });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };
  const refused = (client: Redis, args: [string, ...string[]], what: string) =>
    assert.rejects(client.call(...args), (error: Error) => /NOPERM/.test(error.message), `${what}: expected NOPERM`);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgw-redis-acl-nodes-'));
    redis = await startRedis({ dir });
    await redis.usePerNodeUsers(NODES);
  });
  after(async () => {
    for (const client of clients) client.disconnect();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("node a's agent writes node a's keys and is refused node b's", async () => {
    const agentA = connect(redis.url('agent', 'pgw-a'));
    await agentA.set(agentStatusKey('pgw-a'), '{"ok":true}', 'EX', 60);
    await agentA.set(haStatusKey('pgw-a'), '{"state":"MASTER"}', 'EX', 3);
    await agentA.set(agentNeighboursKey('pgw-a'), '{"omitted":0}', 'EX', 60);
    await agentA.zadd(NODES_KEY, Date.now(), 'pgw-a');
    await refused(agentA, ['SET', agentStatusKey('pgw-b'), '{"ok":false}'], "node b's agent status");
    await refused(agentA, ['SET', haStatusKey('pgw-b'), '{"state":"BACKUP"}'], "node b's HA state");
    await refused(agentA, ['SET', agentNeighboursKey('pgw-b'), '{"omitted":0}'], "node b's neighbour table");
    await refused(agentA, ['SET', forwarderStatusKey('pgw-a'), '{}'], "its own node's forwarder status");
    await refused(agentA, ['DEL', agentStatusKey('pgw-b')], "deleting node b's status");
  });

  it("node b's forwarder writes node b's status only; node b's agent is refused node a's keys", async () => {
    const forwarderB = connect(redis.url('forwarder', 'pgw-b'));
    await forwarderB.set(forwarderStatusKey('pgw-b'), '{"listeners":1}', 'EX', 60);
    await refused(forwarderB, ['SET', forwarderStatusKey('pgw-a'), '{"listeners":0}'], "node a's forwarder status");
    const agentB = connect(redis.url('agent', 'pgw-b'));
    await refused(agentB, ['SET', haStatusKey('pgw-a'), '{"state":"FAULT"}'], "node a's HA state");
    await refused(agentB, ['SET', agentStatusKey('pgw-a'), '{}'], "node a's agent status");
  });

  it('no shared agent or forwarder user is left to write every node', async () => {
    for (const service of ['agent', 'forwarder'] as const) {
      await assert.rejects(connect(redis.url(service), true).ping(), /WRONGPASS|invalid username-password|Connection is closed|Stream isn't writeable/, service);
    }
    const users = (await connect(redis.adminUrl).call('ACL', 'USERS')) as string[];
    assert.deepEqual(users.filter((u) => /^pgw-(agent|forwarder)/.test(u)).sort(), ['pgw-agent-pgw-a', 'pgw-agent-pgw-b', 'pgw-forwarder-pgw-a', 'pgw-forwarder-pgw-b']);
  });

  it("the api reads both nodes' neighbour tables as one, each device as last heard", async () => {
    const seen = (ip: string, mac: string, lastSeen: string) => ({ ip, mac, state: 'REACHABLE' as const, firstSeen: '2026-01-01T00:00:01.000Z', lastSeen });
    const table = (at: string, neighbours: NeighbourRecordInput['neighbours']): string => JSON.stringify({ at, interface: 'ens19', omitted: 0, neighbours } satisfies NeighbourRecordInput);
    const agentA = connect(redis.url('agent', 'pgw-a'));
    const agentB = connect(redis.url('agent', 'pgw-b'));
    await agentA.set(agentNeighboursKey('pgw-a'), table('2026-01-01T00:00:05.000Z', [seen('192.168.2.10', '02:00:00:00:00:10', '2026-01-01T00:00:04.000Z')]), 'EX', 60);
    await agentB.set(agentNeighboursKey('pgw-b'), table('2026-01-01T00:00:06.000Z', [seen('192.168.2.10', '02:00:00:00:00:aa', '2026-01-01T00:00:05.500Z'), seen('192.168.2.11', '02:00:00:00:00:11', '2026-01-01T00:00:05.000Z')]), 'EX', 60);
    await agentA.zadd(NODES_KEY, Date.now(), 'pgw-a');
    await agentB.zadd(NODES_KEY, Date.now(), 'pgw-b');
    const merged = await readNeighbours(connect(redis.url('api')));
    assert.deepEqual(merged?.neighbours.map((n) => [n.ip, n.mac]), [['192.168.2.10', '02:00:00:00:00:aa'], ['192.168.2.11', '02:00:00:00:00:11']]);
    assert.equal(merged?.at.toISOString(), '2026-01-01T00:00:06.000Z');
  });
});
