// Mapping writes under concurrency and repetition, against the real Postgres, a private Redis, the
// real health service and a real dante: automatic forwarder ports never collide between admins saving
// at once (issue 17), and re-importing an unchanged CSV changes nothing (no "updated", no "pending").
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AgentStatusRecord, connectRedis, EventBus } from '@pgw/events';
import { writeNodeStatus } from '../support/node-status.js';
import { createLogger } from '@pgw/log';
import type { Redis } from 'ioredis';
import { ADMIN, type ApiHarness, type Session } from './api-harness.js';
import { ApiStack } from './api-stack.js';

const WRITERS = 4;
const PER_WRITER = 25;

describe('mapping writes: concurrent port allocation and idempotent CSV import', { timeout: 180_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let admin: Session;
  let redis: Redis;
  let proxyId: number;
  const as = (session: Session) => ({ auth: { bearer: session.token } });

  before(async () => {
    stack = await ApiStack.start();
    h = stack.harness;
    redis = connectRedis(stack.redis.adminUrl); // stands in for the agent's status report
    admin = await h.login(ADMIN);
    const created = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'dante', url: stack.dante.url } });
    assert.equal(created.status, 201, created.text);
    proxyId = created.body.id;
  });
  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it(`${WRITERS} admins adding ${WRITERS * PER_WRITER} mappings at once, none naming a port, all succeed on distinct ports`, async () => {
    const failures: string[] = [];
    const ports: number[] = [];
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, writer) => {
        for (let i = 0; i < PER_WRITER; i++) {
          const clientIp = `192.168.2.${10 + writer * PER_WRITER + i}`;
          const res = await h.call('POST', '/api/v1/mappings', { ...as(admin), body: { clientIp, proxyId } });
          if (res.status === 201) ports.push(res.body.listenPort);
          else failures.push(`${clientIp}: ${res.status} ${res.body?.error?.field ?? ''} ${res.body?.error?.message ?? res.text}`);
        }
      }),
    );
    assert.deepEqual(failures, [], `${failures.length} of ${WRITERS * PER_WRITER} failed`);
    assert.equal(new Set(ports).size, WRITERS * PER_WRITER, 'ports must be distinct');
    // Lowest free first, so the range stays packed: exactly 20000.. in some order.
    assert.deepEqual([...ports].sort((a, b) => a - b), Array.from({ length: WRITERS * PER_WRITER }, (_, i) => 20000 + i));
  });

  it('re-importing an exported CSV reports every row unchanged, writes nothing and leaves the clients applied', async () => {
    const exported = await h.call('GET', '/api/v1/mappings/export', as(admin));
    assert.equal(exported.status, 200);
    // The agent applied everything as of now.
    const appliedAt = new Date(Date.now() + 1).toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await writeNodeStatus(redis, { agent: { ok: true, at: appliedAt, durationMs: 4, appliedMappings: WRITERS * PER_WRITER, blocked: {}, rejected: [], error: null } satisfies AgentStatusRecord });
    const stateBefore = await h.call('GET', '/api/v1/mappings?limit=1', as(admin));
    assert.deepEqual(stateBefore.body.items[0].effective, { state: 'effective', reason: null });

    const auditBefore = await h.auditCount();
    const notices: string[] = [];
    const bus = new EventBus({ redisUrl: stack.redis.adminUrl, logger: createLogger('test-tail', 'error') });
    // Stream ids are the Redis server's milliseconds (this machine's clock): from now on.
    const tail = bus.tail(`${Date.now()}-0`, ({ event }) => void (event.type.startsWith('mapping.') && notices.push(event.type)));
    try {
      const again = await h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv: exported.text });
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.body, { created: 0, updated: 0, unchanged: WRITERS * PER_WRITER });
      assert.equal(await h.auditCount(), auditBefore, 'an unchanged row is not audited as a change');
      const stateAfter = await h.call('GET', '/api/v1/mappings?limit=1', as(admin));
      assert.deepEqual(stateAfter.body.items[0].effective, { state: 'effective', reason: null }, 'an unchanged row must not become "pending"');

      // A real change is written, audited once and announced, so the agent applies it at once.
      // Ports were allocated concurrently: whichever this client got, only its description changes.
      const changed = exported.text.replace(/^(192\.168\.2\.10,dante,\d+,true,),/m, '$1moved desk,');
      assert.notEqual(changed, exported.text, 'the fixture line is in the export');
      const once = await h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv: changed });
      assert.deepEqual(once.body, { created: 0, updated: 1, unchanged: WRITERS * PER_WRITER - 1 });
      assert.equal(await h.auditCount(), auditBefore + 1);
      const deadline = Date.now() + 5_000;
      while (!notices.includes('mapping.changed') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(notices, ['mapping.changed'], 'one notice, for the import with a change only');
    } finally {
      await tail.stop();
      await bus.close();
    }
  });
});
