// What one logged-in user can take with the live event stream: each stream resuming from far back
// (Last-Event-ID older than the shared tail) opened a Redis connection of its own and replayed the
// whole history, and nothing bounded the streams per user nor waited for a client to read. Now a
// user holds at most MAX_STREAMS_PER_USER streams (429 beyond, nothing opened), and a stream whose
// client does not read is ended once the api holds more than its buffer cap for it (the browser's
// EventSource resumes from the last id it got). Real Postgres, a private Redis, real sockets.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EventBus } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';
import { MAX_STREAMS_PER_USER } from '../../services/api/src/live/sse-streams.js';
import { ApiHarness, type Session, VIEWER } from './api-harness.js';

describe('api event streams: bounded per user and per slow client', () => {
  let h: ApiHarness;
  let redisDir: string;
  let redis: RedisHandle;
  let bus: EventBus;
  let admin: Redis;
  let viewer: Session;
  const apiConnections = async () => ((await admin.call('CLIENT', 'LIST')) as string).split('\n').filter((line) => / user=pgw-api /.test(line)).length;

  before(async () => {
    redisDir = mkdtempSync(join(tmpdir(), 'pgw-api-sse-limits-'));
    redis = await startRedis({ dir: redisDir });
    h = await ApiHarness.start({ PGW_REDIS_URL: redis.url('api') }, { stream: undefined, queuePrefix: undefined });
    bus = new EventBus({ redisUrl: redis.adminUrl, logger: createLogger('events-test', 'error') });
    admin = new Redis(redis.adminUrl);
    viewer = await h.login(VIEWER);
  });
  after(async () => {
    admin?.disconnect();
    await bus?.close();
    await h?.stop();
    await redis?.stop();
    if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  });

  it(`opens at most ${MAX_STREAMS_PER_USER} streams for one user (429 beyond), so its Redis connections stay bounded`, async () => {
    await bus.publish({ type: 'config.changed' });
    const aborts: AbortController[] = [];
    const open = async (lastEventId?: string) => {
      const abort = new AbortController();
      aborts.push(abort);
      const res = await fetch(`${h.url}/api/v1/events`, { headers: { authorization: `Bearer ${viewer.token}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, signal: abort.signal });
      return res.status;
    };
    try {
      const baseline = await apiConnections();
      // The first stream starts the shared tail at "now"; the others resume from the beginning, each behind it.
      const statuses = [await open()];
      for (let i = 0; i < 2 * MAX_STREAMS_PER_USER; i++) statuses.push(await open('0-1'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const held = (await apiConnections()) - baseline;
      console.log(`# statuses ${statuses.join(' ')}; Redis connections of the api for them: ${held}`);
      assert.equal(statuses.filter((s) => s === 200).length, MAX_STREAMS_PER_USER);
      assert.equal(statuses.filter((s) => s === 429).length, statuses.length - MAX_STREAMS_PER_USER);
      assert.ok(held <= MAX_STREAMS_PER_USER, `${held} Redis connections`);
    } finally {
      for (const abort of aborts) abort.abort();
    }
    // Closed streams give their places back.
    for (let i = 0; i < 50 && (await fetch(`${h.url}/api/v1/events`, { headers: { authorization: `Bearer ${viewer.token}` } }).then((r) => (r.body?.cancel(), r.status))) !== 200; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it('ends a stream whose client does not read once the api holds too much for it, instead of buffering the history', async () => {
    const first = await bus.publish({ type: 'config.changed' });
    const error = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 400; i++) await bus.publish({ type: 'proxy.status', proxyId: i, status: 'down', previous: 'up', latencyMs: null, exitIp: null, error });
    const published = 400 * error.length;
    const socket = connect(new URL(h.url).port ? Number(new URL(h.url).port) : 80, '127.0.0.1');
    let received = 0;
    let ended = false;
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${viewer.token}\r\nLast-Event-ID: ${first}\r\n\r\n`);
      socket.pause();
      // The client reads nothing for 2 s: the replay (26 MB) is far beyond the kernel's socket buffers.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (chunk.includes('\r\n0\r\n\r\n')) ended = true;
      });
      socket.resume();
      for (let i = 0; i < 100 && !ended; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      console.log(`# published ${(published / 2 ** 20).toFixed(1)} MiB; the unread stream got ${(received / 2 ** 20).toFixed(1)} MiB, then ${ended ? 'its end' : 'no end'}`);
      assert.ok(ended, 'the api ended the stream of the client that did not read');
      assert.ok(received < published, 'it did not keep the whole history for that client');
    } finally {
      socket.destroy();
    }
  });

  it('a stream whose client left before the api got to it is not kept: its place is free at once', async () => {
    // The users table locked: each request waits in the authentication's lookup (its session cache
    // expired), and the clients give up meanwhile. The handlers run after they left.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const lock = h.db.transaction().execute(async (trx) => {
      await sql`LOCK TABLE users IN ACCESS EXCLUSIVE MODE`.execute(trx);
      await new Promise((resolve) => setTimeout(resolve, 500));
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const aborts = Array.from({ length: MAX_STREAMS_PER_USER }, () => new AbortController());
    const gone = aborts.map((abort) => fetch(`${h.url}/api/v1/events`, { headers: { authorization: `Bearer ${viewer.token}` }, signal: abort.signal }).catch(() => 'aborted'));
    await new Promise((resolve) => setTimeout(resolve, 150));
    for (const abort of aborts) abort.abort();
    await Promise.all(gone);
    await lock;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const next = await fetch(`${h.url}/api/v1/events`, { headers: { authorization: `Bearer ${viewer.token}` } });
    await next.body?.cancel();
    assert.equal(next.status, 200, `${MAX_STREAMS_PER_USER} clients that left before their stream opened still held every place`);
  });
});
