import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectRedis, EventBus, type ReceivedEvent } from '@pgw/events';
import { createLogger } from '@pgw/log';
import type { Redis } from 'ioredis';
import { CoalescedRuns } from '@pgw/runtime';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';
import { waitFor } from '../../lab/wait.js';

const logger = createLogger('event-bus-test', 'error');
const FIXTURE = fileURLToPath(new URL('./fixtures/stuck-consumer.ts', import.meta.url));

/** Waits until a handler collected an event in items. */
const arrived = (what: string, items: unknown[]) => waitFor(`an event ${what}`, 5_000, () => items.length > 0, { intervalMs: 20 });

/** A consumer in a child process that never acks; kill() is a real crash (SIGKILL). */
async function startStuckConsumer(redisUrl: string, stream: string, group: string, consumer: string) {
  const child = spawn(process.execPath, ['--conditions=pgw-source', '--import', 'tsx', FIXTURE, redisUrl, stream, group, consumer], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const until = (text: string) =>
    waitFor(`the stuck consumer to print "${text}"`, 10_000, () => output.includes(text), { intervalMs: 20, detail: () => `it printed: ${output}` });
  await until('subscribed');
  await sleep(400); // its group exists once its first read has run
  return { received: (id: string) => until(`received ${id}`), kill: () => child.kill('SIGKILL') };
}

describe('event bus over a real Redis', () => {
  let dir: string;
  let redis: RedisHandle;
  let admin: Redis;
  let stream = '';
  let n = 0;
  /** A new stream base; these notices are all the api's, so they land in `<base>:api`. The lab's admin user
   * stands in for every service: these tests are about the bus, redis-acl.test.ts about the users. */
  const newStream = () => (stream = `pgw:test:${process.pid}:${++n}`);
  /** A bus on a new stream whose agent group collects what it handles; subscribed before anything is published. */
  const agentBus = async () => {
    const bus = new EventBus({ redisUrl: redis.adminUrl, logger, stream: newStream() });
    const handled: ReceivedEvent[] = [];
    bus.subscribe({ group: 'agent', handler: async (e) => void handled.push(e), blockMs: 200 });
    await sleep(300); // groups are created at '$'
    return { bus, handled };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgw-bus-'));
    redis = await startRedis({ dir });
    admin = connectRedis(redis.adminUrl);
  });
  after(async () => {
    admin?.disconnect();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers a published event to every consumer group once, and acks after handling', async () => {
    const bus = new EventBus({ redisUrl: redis.adminUrl, logger, stream: newStream() });
    const agent: ReceivedEvent[] = [];
    const forwarder: ReceivedEvent[] = [];
    bus.subscribe({ group: 'agent', handler: async (e) => void agent.push(e), blockMs: 200 });
    bus.subscribe({ group: 'forwarder', handler: async (e) => void forwarder.push(e), blockMs: 200 });
    await sleep(300); // groups are created at '$': subscribe before publishing
    const id = await bus.publish({ type: 'proxy.changed', proxyId: 3, action: 'updated' });
    await arrived('handled by agent', agent);
    await arrived('handled by forwarder', forwarder);
    assert.equal(agent.length, 1);
    assert.equal(forwarder.length, 1);
    assert.equal(agent[0]!.id, id);
    assert.deepEqual(agent[0]!.event, { type: 'proxy.changed', proxyId: 3, action: 'updated' });
    await sleep(100);
    const pending = (await admin.xpending(`${stream}:api`, 'agent')) as [number, ...unknown[]];
    assert.equal(pending[0], 0, 'acknowledged after the handler returned');
    await bus.close();
  });

  it('gives each node of an HA pair every notice: an agent and a forwarder per node, each node its own group (issue 18)', async () => {
    const bus = new EventBus({ redisUrl: redis.adminUrl, logger, stream: newStream() });
    const seen: Record<string, ReceivedEvent[]> = { 'agent a': [], 'agent b': [], 'forwarder a': [], 'forwarder b': [] };
    for (const group of ['agent', 'forwarder'] as const) {
      for (const node of ['a', 'b']) bus.subscribe({ group, node, consumer: `${group}@${node}`, handler: async (e) => void seen[`${group} ${node}`]!.push(e), blockMs: 200 });
    }
    await sleep(300); // groups are created at '$'
    const ids = [await bus.publish({ type: 'proxy.changed', proxyId: 1, action: 'updated' }), await bus.publish({ type: 'config.changed' })];
    await waitFor('every node to handle both notices', 5_000, () => Object.values(seen).every((handled) => handled.length >= 2), {
      intervalMs: 20,
      detail: () => JSON.stringify(Object.fromEntries(Object.entries(seen).map(([who, handled]) => [who, handled.map((e) => e.id)]))),
    });
    await sleep(200);
    for (const [who, handled] of Object.entries(seen)) assert.deepEqual(handled.map((e) => e.id), ids, `${who} handled each notice once`);
    await bus.close();
  });

  it('a backlog of notices costs a reload or two, not one per notice in turn (a node back after downtime, a burst)', async () => {
    const bus = new EventBus({ redisUrl: redis.adminUrl, logger, stream: newStream() });
    // The services' handlers: a notice means "reload", folded into coalesced runs.
    let runs = 0;
    const reloads = new CoalescedRuns(async () => {
      runs++;
      await sleep(20);
    });
    let handled = 0;
    // The first notice's handler waits until all 100 are out: the other 99 are then a backlog
    // whatever the machine's load (published one by one on a loaded machine, they trickled in and
    // each batch was a reload of its own: 14 in a CI run).
    let published!: () => void;
    const allPublished = new Promise<void>((resolve) => (published = resolve));
    // Closed however it ends: a failed assertion left its Redis connections open and the file never
    // exited (the CI run of 89f68ff..7af3106 hung here).
    try {
      bus.subscribe({ group: 'forwarder', handler: async () => { if (handled++ === 0) await allPublished; await reloads.request(); }, blockMs: 200, batch: 100 });
      await sleep(300); // groups are created at '$'
      for (let i = 0; i < 100; i++) await bus.publish({ type: 'proxy.changed', proxyId: i + 1, action: 'updated' });
      published();
      await waitFor('every notice handled', 10_000, () => handled >= 100, { intervalMs: 20 });
      await sleep(200);
      console.log(`# 100 notices: ${runs} reloads`);
      assert.ok(runs <= 10, `100 notices ran ${runs} reloads, one after another`);
      const pending = (await admin.xpending(`${stream}:api`, 'forwarder')) as [number, ...unknown[]];
      assert.equal(pending[0], 0, 'every notice acknowledged');
    } finally {
      published();
      await bus.close();
    }
  });

  it('redelivers an event whose consumer crashed before ack: reclaimed by another consumer', async () => {
    const bus = new EventBus({ redisUrl: redis.adminUrl, logger, stream: newStream() });
    const crashed = await startStuckConsumer(redis.adminUrl, stream, 'agent', 'agent@crashed');
    const id = await bus.publish({ type: 'config.changed' });
    await crashed.received(id);
    crashed.kill();

    const survivor: ReceivedEvent[] = [];
    bus.subscribe({ group: 'agent', consumer: 'agent@survivor', handler: async (e) => void survivor.push(e), blockMs: 200, reclaimIdleMs: 500 });
    await arrived('reclaimed by the survivor', survivor);
    assert.equal(survivor.length, 1, 'reclaimed after it sat idle');
    assert.equal(survivor[0]!.id, id);
    await sleep(100);
    const pending = (await admin.xpending(`${stream}:api`, 'agent')) as [number, ...unknown[]];
    assert.equal(pending[0], 0);
    await bus.close();
  });

  it('a restarted consumer handles its own unacknowledged entries first', async () => {
    const bus = new EventBus({ redisUrl: redis.adminUrl, logger, stream: newStream() });
    const crashed = await startStuckConsumer(redis.adminUrl, stream, 'forwarder', 'fwd@host');
    const id = await bus.publish({ type: 'mapping.changed', mappingId: 1, action: 'created' });
    await crashed.received(id);
    crashed.kill();
    const handled: ReceivedEvent[] = [];
    // Same consumer name, reclaim far away: only the "own pending first" path can deliver it.
    bus.subscribe({ group: 'forwarder', consumer: 'fwd@host', handler: async (e) => void handled.push(e), blockMs: 200, reclaimIdleMs: 600_000 });
    await arrived('handled', handled);
    assert.equal(handled.length, 1);
    assert.equal(handled[0]!.id, id);
    await bus.close();
  });

  it('drops a malformed entry once instead of redelivering it forever', async () => {
    const { bus, handled } = await agentBus();
    await admin.xadd(`${stream}:api`, '*', 'type', 'bogus', 'data', '{"type":"bogus"}');
    await bus.publish({ type: 'config.changed' });
    await arrived('handled', handled);
    await sleep(200);
    assert.deepEqual(handled.map((e) => e.event.type), ['config.changed']);
    const pending = (await admin.xpending(`${stream}:api`, 'agent')) as [number, ...unknown[]];
    assert.equal(pending[0], 0);
    await bus.close();
  });

  it('fails fast while Redis is down and resumes consuming after it returns', async () => {
    const { bus, handled } = await agentBus();
    await redis.stop();
    const started = Date.now();
    await assert.rejects(bus.publish({ type: 'config.changed' }));
    assert.ok(Date.now() - started < 1_500, 'publish does not hang while Redis is down');
    await redis.start(); // no persistence: the stream and group are gone, as after a Redis crash
    admin.disconnect();
    admin = connectRedis(redis.adminUrl);
    let published = false;
    for (let i = 0; i < 50 && !published; i++) {
      published = await bus.publish({ type: 'proxy.changed', proxyId: 9, action: 'created' }).then(() => true, () => false);
      if (!published) await sleep(100);
    }
    assert.ok(published, 'the publisher reconnected');
    // The consumer recreates its group at '$' after reconnecting; keep publishing until one lands.
    for (let i = 0; i < 50 && handled.length === 0; i++) {
      await bus.publish({ type: 'proxy.changed', proxyId: 9, action: 'updated' }).catch(() => undefined);
      await sleep(100);
    }
    assert.ok(handled.length >= 1, 'the consumer reconnected and resumed');
    await bus.close();
  });

  it('close() settles promptly while Redis is down (a service can still stop)', async () => {
    await redis.stop();
    // Started while Redis is unreachable: both readers sit in ioredis' reconnect wait with a read queued.
    const bus = new EventBus({ redisUrl: redis.adminUrl, logger, stream: newStream() });
    bus.subscribe({ group: 'agent', handler: async () => undefined, blockMs: 200 });
    bus.tail('$', () => undefined);
    await sleep(1_500);
    const started = Date.now();
    await bus.close();
    assert.ok(Date.now() - started < 2_000, `close took ${Date.now() - started} ms`);
    await redis.start();
    admin.disconnect();
    admin = connectRedis(redis.adminUrl);
  });

  it('tails the stream without a group from a given id (SSE resume)', async () => {
    const bus = new EventBus({ redisUrl: redis.adminUrl, logger, stream: newStream() });
    const first = await bus.publish({ type: 'config.changed' });
    await bus.publish({ type: 'proxy.changed', proxyId: 1, action: 'deleted' });
    const seen: ReceivedEvent[] = [];
    const tail = bus.tail(first, (e) => seen.push(e));
    await arrived('tailed', seen);
    assert.deepEqual(seen.map((e) => e.event.type), ['proxy.changed'], 'resumes after the given id');
    assert.equal(await bus.lastId(), seen[0]!.id);
    await tail.stop();
    await bus.close();
  });
});
