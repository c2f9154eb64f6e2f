// Live events over SSE and behaviour with Redis down: real Postgres, a private Redis that the test
// really stops, the real EventBus publishing a proxy status notice as the health service does.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EventBus } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';
import { ADMIN, ApiHarness, type Session, VIEWER } from './api-harness.js';

interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** A minimal EventSource over fetch that keeps every message and comment with its arrival time. */
async function openStream(url: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  const messages: (SseMessage & { receivedAt: number })[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  /** 'ended' once the server ended the response cleanly; 'failed' on a reset or an abort. */
  let outcome: 'open' | 'ended' | 'failed' = 'open';
  const pump = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          outcome = 'ended';
          return;
        }
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const message: SseMessage = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) message.comment = line.slice(1).trim();
            else {
              const [key, ...rest] = line.split(':');
              (message as Record<string, string>)[key!] = rest.join(':').trimStart();
            }
          }
          messages.push({ ...message, receivedAt: Date.now() });
        }
      }
    } catch {
      outcome = 'failed';
    }
  })();
  return {
    res,
    messages,
    async waitFor(pred: (m: SseMessage) => boolean, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = messages.find(pred);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(messages)}`);
    },
    get outcome() {
      return outcome;
    },
    /** Resolves with how the stream ended, or 'open' if it still is after timeoutMs. */
    async ended(timeoutMs: number) {
      await Promise.race([pump, new Promise((r) => setTimeout(r, timeoutMs))]);
      return outcome;
    },
    close: async () => {
      abort.abort();
      await pump;
    },
  };
}

describe('api events and Redis outages', () => {
  let h: ApiHarness;
  let redisDir: string;
  let redis: RedisHandle;
  let bus: EventBus;
  let admin: Session;

  before(async () => {
    redisDir = mkdtempSync(join(tmpdir(), 'pgw-api-events-'));
    redis = await startRedis({ dir: redisDir });
    h = await ApiHarness.start({ PGW_REDIS_URL: redis.url('api') }, { stream: undefined, queuePrefix: undefined });
    bus = new EventBus({ redisUrl: redis.adminUrl, logger: createLogger('events-test', 'error') }); // stands in for every publisher
    admin = await h.login(ADMIN);
  });
  after(async () => {
    await bus?.close();
    await h?.stop();
    await redis?.stop();
    if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  });

  it('an SSE client receives a proxy status change within 1 s of its notice, and heartbeats', async () => {
    const stream = await openStream(`${h.url}/api/v1/events`, { cookie: admin.cookie });
    try {
      assert.equal(stream.res.status, 200);
      assert.match(stream.res.headers.get('content-type') ?? '', /^text\/event-stream/);
      await stream.waitFor((m) => m.comment === 'heartbeat', 2_000);
      const publishedAt = Date.now();
      const id = await bus.publish({ type: 'proxy.status', proxyId: 7, status: 'down', previous: 'up', latencyMs: null, exitIp: null, error: 'connection refused' });
      const message = await stream.waitFor((m) => m.event === 'proxy.status', 1_000);
      assert.equal(message.id, id, 'id: is the stream id');
      const data = JSON.parse(message.data!);
      assert.deepEqual([data.proxyId, data.status, data.previous], [7, 'down', 'up']);
      assert.ok((message as { receivedAt: number }).receivedAt - publishedAt < 1_000);
    } finally {
      await stream.close();
    }
  });

  it('a reconnecting client resumes after Last-Event-ID without losing notices', async () => {
    const first = await bus.publish({ type: 'config.changed' });
    const missed = await bus.publish({ type: 'mapping.changed', mappingId: 3, action: 'deleted' });
    const stream = await openStream(`${h.url}/api/v1/events`, { cookie: admin.cookie, 'last-event-id': first });
    try {
      const message = await stream.waitFor((m) => m.event === 'mapping.changed', 1_000);
      assert.equal(message.id, missed);
      assert.equal(stream.messages.some((m) => m.id === first), false, 'nothing at or before Last-Event-ID again');
    } finally {
      await stream.close();
    }
  });

  it('a Last-Event-ID beyond the stream (past uint64, or far ahead) resumes from its end: the stream still delivers', async () => {
    // Taken as is it started the shared tail where Redis refuses to read (or reads nothing for
    // ever): that stream got nothing, and every later console a Redis connection of its own.
    for (const ahead of ['99999999999999999999-0', `${Date.now() + 86_400_000}-0`]) {
      const stream = await openStream(`${h.url}/api/v1/events`, { cookie: admin.cookie, 'last-event-id': ahead });
      try {
        await stream.waitFor((m) => m.comment === 'heartbeat', 2_000);
        const id = await bus.publish({ type: 'config.changed' });
        const message = await stream.waitFor((m) => m.event === 'config.changed', 1_500);
        assert.equal(message.id, id, ahead);
      } finally {
        await stream.close();
      }
    }
  });

  it('a change made through the api reaches SSE clients as a notice', async () => {
    const stream = await openStream(`${h.url}/api/v1/events`, { cookie: admin.cookie });
    try {
      await stream.waitFor((m) => m.comment === 'heartbeat', 2_000);
      const created = await h.call('POST', '/api/v1/proxies', { auth: { bearer: admin.token }, body: { name: 'sse', url: 'http://198.51.100.40:3128' } });
      const message = await stream.waitFor((m) => m.event === 'proxy.changed', 1_000);
      assert.deepEqual(JSON.parse(message.data!).proxyId, created.body.id);
    } finally {
      await stream.close();
    }
  });

  it('a stream whose token was revoked behind the api\'s back ends at the next heartbeat', async () => {
    const session = await h.login(ADMIN);
    const stream = await openStream(`${h.url}/api/v1/events`, { cookie: session.cookie });
    try {
      await stream.waitFor((m) => m.comment === 'heartbeat', 2_000);
      // What another api process or an operator's SQL would do: this api learns it only from Postgres.
      await h.db.updateTable('users').set((eb) => ({ tokenVersion: eb('tokenVersion', '+', 1) })).where('username', '=', ADMIN.username).execute();
      assert.equal(await stream.ended(3 * 300 + 500), 'ended', 'heartbeats are 300 ms apart in tests');
    } finally {
      await stream.close();
      admin = await h.login(ADMIN);
    }
  });

  it('with Redis down a change is still stored and audited, and the api still answers', async () => {
    const proxyId = await h.seedProxy('while-down');
    const mappingId = await h.seedMapping(proxyId, '192.168.2.50', 21000);
    await redis.stop();
    try {
      const audits = await h.auditCount();
      const started = Date.now();
      const disabled = await h.call('POST', `/api/v1/mappings/${mappingId}/disable`, { auth: { bearer: admin.token } });
      assert.equal(disabled.status, 200, disabled.text);
      assert.ok(Date.now() - started < 2_000, `answered in ${Date.now() - started} ms`);
      const row = await h.db.selectFrom('mappings').select('enabled').where('id', '=', mappingId).executeTakeFirstOrThrow();
      assert.equal(row.enabled, false, 'stored in Postgres');
      assert.equal(await h.auditCount(), audits + 1, 'audited');
      const renamed = await h.call('PATCH', `/api/v1/proxies/${proxyId}`, { auth: { bearer: admin.token }, body: { name: 'still-works' } });
      assert.equal(renamed.status, 200);
      assert.deepEqual((await h.call('GET', `/api/v1/mappings/${mappingId}`, { auth: { bearer: admin.token } })).body.effective, { state: 'not_applied', reason: 'agent_unavailable' });
      const status = await h.call('GET', '/api/v1/status', { auth: { bearer: admin.token } });
      assert.deepEqual([status.status, status.body.agent], [200, null]);
      const ready = await h.call('GET', '/readyz');
      assert.deepEqual([ready.status, ready.body.checks], [503, { postgres: true, redis: false }]);
      const gate = await h.call('POST', `/api/v1/mappings/${mappingId}/enable`, { auth: { bearer: admin.token } });
      assert.deepEqual([gate.status, gate.body.error.code], [503, 'unavailable'], 'the gate fails closed');
      assert.equal((await h.db.selectFrom('mappings').select('enabled').where('id', '=', mappingId).executeTakeFirstOrThrow()).enabled, false);
      assert.equal((await fetch(`${h.url}/api/v1/events`, { headers: { cookie: admin.cookie } })).status, 503);
    } finally {
      await redis.start();
    }
    const deadline = Date.now() + 5_000;
    while ((await h.call('GET', '/readyz')).status !== 200) {
      assert.ok(Date.now() < deadline, 'ready again after Redis is back');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  // Heartbeats a minute apart: within a second only the revocation itself can end a stream here.
  describe('revocations made through this api', () => {
    let quiet: ApiHarness;
    before(async () => {
      quiet = await ApiHarness.start({ PGW_REDIS_URL: redis.url('api') }, { stream: undefined, queuePrefix: undefined, sseHeartbeatMs: 60_000 });
    });
    after(async () => {
      await quiet?.stop();
    });

    it('a stream ends at once when its session logs out; the same user\'s other sessions keep theirs', async () => {
      const [leaving, staying] = [await quiet.login(ADMIN), await quiet.login(ADMIN)];
      const [doomed, other] = [await openStream(`${quiet.url}/api/v1/events`, { cookie: leaving.cookie }), await openStream(`${quiet.url}/api/v1/events`, { cookie: staying.cookie })];
      try {
        const started = Date.now();
        assert.equal((await quiet.call('POST', '/api/v1/auth/logout', { auth: { session: leaving } })).status, 204);
        assert.equal(await doomed.ended(1_000), 'ended', 'ended cleanly by the server');
        assert.ok(Date.now() - started < 1_000, `ended ${Date.now() - started} ms after the logout`);
        assert.equal(await other.ended(300), 'open');
      } finally {
        await doomed.close();
        await other.close();
      }
    });

    it('a stream ends at once when its user changes the password', async () => {
      const viewer = await quiet.login(VIEWER);
      const stream = await openStream(`${quiet.url}/api/v1/events`, { authorization: `Bearer ${viewer.token}` });
      try {
        const changed = await quiet.call('POST', '/api/v1/auth/password', { auth: { bearer: viewer.token }, body: { currentPassword: VIEWER.password, newPassword: 'victor-password-789' } });
        assert.equal(changed.status, 200, changed.text);
        assert.equal(await stream.ended(1_000), 'ended');
      } finally {
        await stream.close();
      }
    });
  });
});
