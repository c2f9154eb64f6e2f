// Each service's Redis user (@pgw/events redis-acl.ts), tried against a real redis-server started from
// the rendered aclfile (the lab's, as in the demo): what the service does works, and what another
// service owns — its status key, its notices, the probe results — is refused with NOPERM.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentStatusKey, connectRedis, EventBus, forwarderStatusKey, haStatusKey, NODES_KEY, PROBE_QUEUE, type ProbeJobData, type ProbeResult, type ReceivedEvent, type RedisService } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ProbeGate } from '../../services/api/src/services/probe-gate.js';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';
import { waitFor } from '../../lab/wait.js';

const logger = createLogger('redis-acl-test', 'error');
const Q = `bull:${PROBE_QUEUE}`;
type Command = readonly [string, ...(string | number)[]];

const forgedStatus = JSON.stringify({ type: 'proxy.status', proxyId: 1, status: 'up', previous: 'down', latencyMs: 1, exitIp: '198.51.100.66', error: null });
const forgedChange = JSON.stringify({ type: 'mapping.changed', mappingId: 1, action: 'updated' });
const xadd = (stream: string, data: string): Command => ['XADD', `pgw:events:${stream}`, '*', 'type', 'x', 'at', new Date().toISOString(), 'data', data];

/** Writes that belong to someone else, per service: each must be refused. */
const REFUSED: Record<RedisService, Record<string, Command>> = {
  api: {
    'write the agent status key': ['SET', 'pgw:agent:status:gw1', '{"ok":true}'],
    'write the forwarder status key': ['SET', 'pgw:forwarder:status:gw1', '{}'],
    'write a node HA state': ['SET', 'pgw:ha:gw1', '{}'],
    'list a node': ['ZADD', 'pgw:nodes', 1, 'forged'],
    'write the LAN neighbour table': ['SET', 'pgw:agent:neighbours:gw1', '{}'],
    'XADD a forged status transition to the health stream': xadd('health', forgedStatus),
    'XADD to the agent stream': xadd('agent', '{}'),
    'mark a probe job completed': ['ZADD', `${Q}:completed`, 1, 'periodic-1'],
    'write a result into the health service job': ['HSET', `${Q}:periodic-1`, 'returnvalue', '{"ok":true}'],
    'take a job as the worker would': ['RPOPLPUSH', `${Q}:wait`, `${Q}:active`],
    'pause the probe queue': ['HSET', `${Q}:meta`, 'paused', 1],
    'write a usage sample': ['HSET', 'pgw:usage', 'gw1', '{}'],
    'read the agent consumer group (steal its notices)': ['XREADGROUP', 'GROUP', 'agent', 'x', 'STREAMS', 'pgw:events:api', '>'],
    'any other key': ['SET', 'other', '1'],
    'list keys': ['KEYS', '*'],
    'flush': ['FLUSHALL'],
  },
  health: {
    'write the agent status key': ['SET', 'pgw:agent:status:gw1', '{}'],
    'XADD a forged change notice to the api stream': xadd('api', forgedChange),
    'XADD to the forwarder stream': xadd('forwarder', '{}'),
    'read the health stream with a group (not a source)': ['XGROUP', 'CREATE', 'pgw:events:agent', 'health', '$', 'MKSTREAM'],
    'destroy another group': ['XGROUP', 'DESTROY', 'pgw:events:api', 'agent'],
    'any other key': ['SET', 'other', '1'],
    'flush': ['FLUSHALL'],
    'reconfigure redis': ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'],
    'write a usage sample': ['HSET', 'pgw:usage', 'gw1', '{}'],
  },
  agent: {
    'write the forwarder status key': ['SET', 'pgw:forwarder:status:gw1', '{}'],
    'XADD a forged status transition to the health stream': xadd('health', forgedStatus),
    'XADD a forged change notice to the api stream': xadd('api', forgedChange),
    'mark a probe job completed': ['ZADD', `${Q}:completed`, 1, '1'],
    'add a probe job': ['LPUSH', `${Q}:wait`, '1'],
    'any other key': ['SET', 'other', '1'],
    'flush': ['FLUSHALL'],
  },
  forwarder: {
    'write the agent status key': ['SET', 'pgw:agent:status:gw1', '{}'],
    'write a node HA state': ['SET', 'pgw:ha:gw1', '{}'],
    'list a node': ['ZADD', 'pgw:nodes', 1, 'forged'],
    'write the LAN neighbour table': ['SET', 'pgw:agent:neighbours:gw1', '{}'],
    'XADD a forged status transition to the health stream': xadd('health', forgedStatus),
    'XADD a forged change notice to the api stream': xadd('api', forgedChange),
    'XADD to the agent stream': xadd('agent', '{}'),
    'mark a probe job completed': ['ZADD', `${Q}:completed`, 1, '1'],
    'write a usage sample': ['HSET', 'pgw:usage', 'gw1', '{}'],
    'any other key': ['SET', 'other', '1'],
    'flush': ['FLUSHALL'],
  },
};

describe('Redis ACL users per service (lab redis, rendered from @pgw/events)', () => {
  let dir: string;
  let redis: RedisHandle;
  const clients: Redis[] = [];
  const as = (service: RedisService | 'admin'): Redis => {
    const client = connectRedis(service === 'admin' ? redis.adminUrl : redis.url(service), { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };
  const refused = async (client: Redis, command: Command, what: string) => {
    const [name, ...args] = command;
    await assert.rejects(client.call(name, ...args), (error: Error) => /NOPERM/.test(error.message), `${what}: expected NOPERM`);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgw-redis-acl-'));
    redis = await startRedis({ dir });
  });
  after(async () => {
    for (const client of clients) client.disconnect();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('requires authentication: without credentials only PING answers', async () => {
    const anonymous = connectRedis(redis.socketPath, { maxRetriesPerRequest: 1, enableReadyCheck: false });
    anonymous.on('error', () => undefined);
    clients.push(anonymous);
    assert.equal(await anonymous.ping(), 'PONG');
    await refused(anonymous, ['GET', 'pgw:agent:status:gw1'], 'anonymous GET');
    await refused(anonymous, ['XADD', 'pgw:events:health', '*', 'data', forgedStatus], 'anonymous XADD');
    const wrong = connectRedis(redis.url('api').replace(/password=[^&]+/, 'password=wrong'), { maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: false });
    wrong.on('error', () => undefined);
    clients.push(wrong);
    await assert.rejects(wrong.ping(), /WRONGPASS|invalid username-password|Connection is closed|Stream isn't writeable/);
  });

  for (const service of Object.keys(REFUSED) as RedisService[]) {
    it(`${service}: refuses what belongs to others`, async () => {
      const client = as(service);
      for (const [what, command] of Object.entries(REFUSED[service])) await refused(client, command, `${service}: ${what}`);
    });
  }

  it('the ACL names the status keys the services really use', () => {
    // Per node (issue 18): what the writers build from their PGW_NODE_NAME is what the ACL grants.
    assert.equal(agentStatusKey('gw1'), 'pgw:agent:status:gw1');
    assert.equal(forwarderStatusKey('gw1'), 'pgw:forwarder:status:gw1');
    assert.equal(haStatusKey('gw1'), 'pgw:ha:gw1');
  });

  it('agent and forwarder write their own status keys; the api reads both', async () => {
    await as('agent').set('pgw:agent:status:gw1', '{"ok":true}', 'EX', 60);
    await as('forwarder').set('pgw:forwarder:status:gw1', '{"listeners":1}', 'EX', 60);
    assert.deepEqual(await as('api').mget('pgw:agent:status:gw1', 'pgw:forwarder:status:gw1'), ['{"ok":true}', '{"listeners":1}']);
    // The node list and each node's HA state (issue 18): the agent writes them, the api reads them.
    await as('agent').set('pgw:ha:gw1', '{"state":"MASTER"}', 'EX', 3);
    await as('agent').zadd(NODES_KEY, Date.now(), 'gw1');
    assert.equal(await as('agent').zremrangebyscore(NODES_KEY, '-inf', 0), 0);
    assert.deepEqual(await as('api').zrange(NODES_KEY, 0, -1), ['gw1']);
    assert.deepEqual(await as('api').mget('pgw:ha:gw1'), ['{"state":"MASTER"}']);
    // The LAN neighbour table (device discovery): the agent's to write, the api's to read.
    await as('agent').set('pgw:agent:neighbours:gw1', '{"omitted":0}', 'EX', 60);
    assert.equal(await as('api').get('pgw:agent:neighbours:gw1'), '{"omitted":0}');
  });

  it("the agent writes its node's usage sample and reads every node's; so does the api (issue 16)", async () => {
    await as('agent').hset('pgw:usage', 'gw1', '{"node":"gw1"}');
    assert.deepEqual(await as('api').hgetall('pgw:usage'), { gw1: '{"node":"gw1"}' });
    assert.equal(await as('api').hget('pgw:usage', 'gw1'), '{"node":"gw1"}');
    // Every node's sample is the agents' stored quota count (a rebooted node, the other HA node): read, never deleted.
    assert.deepEqual(await as('agent').hgetall('pgw:usage'), { gw1: '{"node":"gw1"}' });
    await assert.rejects(as('agent').hdel('pgw:usage', 'gw1'), /NOPERM/);
  });

  it('each publisher reaches the groups that read it; the api tails them all', async () => {
    const buses = Object.fromEntries((['api', 'health', 'agent', 'forwarder'] as const).map((s) => [s, new EventBus({ redisUrl: redis.url(s), logger })])) as Record<RedisService, EventBus>;
    await waitFor('every bus connected', 5_000, async () => (await Promise.all(Object.values(buses).map((bus) => bus.ping()))).every(Boolean));
    const seen: Record<string, string[]> = { agent: [], forwarder: [], health: [], tail: [] };
    const collect = (name: string) => async ({ event }: ReceivedEvent) => void seen[name]!.push(event.type);
    const subscriptions = [
      buses.agent.subscribe({ group: 'agent', handler: collect('agent'), blockMs: 200 }),
      buses.forwarder.subscribe({ group: 'forwarder', handler: collect('forwarder'), blockMs: 200 }),
      buses.health.subscribe({ group: 'health', handler: collect('health'), blockMs: 200 }),
      buses.api.tail(await buses.api.lastId(), (received) => void collect('tail')(received)),
    ];
    await sleep(400); // groups are created at '$'
    await buses.api.publish({ type: 'mapping.changed', mappingId: 1, action: 'created' });
    await buses.health.publish({ type: 'proxy.status', proxyId: 1, status: 'down', previous: 'up', latencyMs: null, exitIp: null, error: 'refused' });
    await buses.forwarder.publish({ type: 'forwarder.upstream_failure', proxyId: 1, reason: 'connect_failed', failures: 3 });
    await buses.agent.publish({ type: 'agent.reconciled', ok: true, durationMs: 1, appliedMappings: 1, blockedClients: 0, error: null });
    await waitFor('every notice delivered', 5_000, () => seen.tail!.length === 4 && seen.agent!.length === 2 && seen.forwarder!.length === 2 && seen.health!.length === 2, {
      intervalMs: 20,
      detail: () => JSON.stringify(seen),
    });
    assert.deepEqual(seen.agent!.sort(), ['mapping.changed', 'proxy.status']);
    assert.deepEqual(seen.forwarder!.sort(), ['mapping.changed', 'proxy.status']);
    assert.deepEqual(seen.health!.sort(), ['forwarder.upstream_failure', 'mapping.changed']);
    assert.deepEqual(seen.tail, ['mapping.changed', 'proxy.status', 'forwarder.upstream_failure', 'agent.reconciled']);
    // The api's bus cannot even send a status transition: it goes to the health stream, which it may not write.
    await assert.rejects(buses.api.publish({ type: 'proxy.status', proxyId: 1, status: 'up', previous: 'down', latencyMs: 1, exitIp: null, error: null }), /NOPERM/);
    for (const s of subscriptions) await s.stop();
    for (const bus of Object.values(buses)) await bus.close();
  });

  it('the api queues probes and gets the health worker\'s result, but cannot act as the worker', async () => {
    // Health owns the queue (as in health-service.ts): its Queue writes the queue's meta at start.
    const healthQueue = new Queue<ProbeJobData, ProbeResult>(PROBE_QUEUE, { connection: redis.connection('health') });
    await healthQueue.waitUntilReady();
    const gate = new ProbeGate({ redisUrl: redis.url('api') });
    await gate.ready();

    // An api process that runs a worker to answer its own probes with a forged "up" gets NOPERM.
    const forgerErrors: string[] = [];
    const forger = new Worker<ProbeJobData, ProbeResult>(PROBE_QUEUE, async (job) => ({ proxyId: job.data.proxyId, ok: true, latencyMs: 1, exitIp: '198.51.100.66', error: null, checkedAt: new Date().toISOString() }), {
      connection: redis.connection('api'),
    });
    forger.on('error', (error) => forgerErrors.push(error.message));
    const pending = gate.probe(7, 8_000);
    // Commands inside BullMQ's scripts are checked against the api's user too; Redis words that refusal differently.
    const refusal = /NOPERM|The user executing the script can't run this command/;
    await waitFor('the forging worker refused', 5_000, () => forgerErrors.some((m) => refusal.test(m)), { detail: () => forgerErrors.at(-1) ?? 'no error' });
    await forger.close(true);
    const counts = await healthQueue.getJobCounts('wait', 'active', 'completed');
    assert.equal(counts.completed, 0, 'no job completed by the api');
    assert.equal(counts.active, 0, 'no job taken by the api');

    const worker = new Worker<ProbeJobData, ProbeResult>(
      PROBE_QUEUE,
      async (job) => ({ proxyId: job.data.proxyId, ok: false, latencyMs: null, exitIp: null, error: 'refused by the proxy', checkedAt: new Date().toISOString() }),
      { connection: redis.connection('health') },
    );
    const result = await pending;
    assert.equal(result.proxyId, 7);
    assert.equal(result.ok, false);
    assert.equal(result.error, 'refused by the proxy');
    await worker.close();
    await gate.close();
    await healthQueue.close();
  });
});
