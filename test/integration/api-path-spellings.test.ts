// Deny by default: every operation of API_SPEC.yaml is called through other spellings of its path
// (letter case, slashes, percent-encodings, dot segments, ; parameters, NUL, absolute-form) and
// through method-override headers, anonymously and as a viewer, with inputs that are valid for the
// operation. None may succeed or crash, and nothing may change: every table of the database (row
// count and content) and the api's Redis are compared before and after. The exact spellings of the
// same requests, sent as an admin, reach their handlers: the inputs are right, only the spelling is
// refused. Real api, real Postgres and Redis (own stream and queue prefix); raw HTTP so no client
// normalises the path.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Db } from '@pgw/db';
import { connectRedis } from '@pgw/events';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { parse } from 'yaml';
import { pathSpellings } from '../support/path-spellings.js';
import { ADMIN, ApiHarness, type Session, VIEWER } from './api-harness.js';

interface SpecOperation {
  operationId: string;
  method: string;
  template: string;
  /** Media type of the request body, when the operation has one. */
  bodyType?: string;
}
interface Body {
  type: string;
  text: string;
}
interface Reply {
  status: number;
  text: string;
}

const SPEC = parse(readFileSync(fileURLToPath(new URL('../../API_SPEC.yaml', import.meta.url)), 'utf8')) as {
  paths: Record<string, Record<string, { operationId?: string; requestBody?: { content: Record<string, unknown> } }>>;
};
const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'];
const OPERATIONS: SpecOperation[] = Object.entries(SPEC.paths).flatMap(([template, item]) =>
  Object.entries(item)
    .filter(([method, op]) => METHODS.includes(method) && op.operationId)
    .map(([method, op]) => ({
      operationId: op.operationId!,
      method: method.toUpperCase(),
      template,
      ...(op.requestBody ? { bodyType: Object.keys(op.requestBody.content)[0]! } : {}),
    })),
);
const OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/** One HTTP/1.1 request with this literal request target: node:http sends the path as given. */
function send(base: URL, method: string, path: string, headers: Record<string, string>, body?: Body): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const all = { ...headers, ...(body ? { 'content-type': body.type, 'content-length': String(Buffer.byteLength(body.text)) } : {}) };
    const req = request({ host: base.hostname, port: base.port, method, path, headers: all, agent: false, timeout: 20_000 }, (res) => {
      // An event stream never ends: its status is all we need.
      if (res.headers['content-type']?.startsWith('text/event-stream')) {
        res.destroy();
        return resolve({ status: res.statusCode!, text: '(event stream)' });
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 20 s`)));
    req.on('error', reject);
    req.end(body?.text);
  });
}

/** Row count and a digest of the content of every table, so an update shows as well as an insert. */
async function databaseState(db: Db): Promise<Record<string, string>> {
  const tables = await sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`.execute(db);
  const state: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const { rows } = await sql<{ n: string; digest: string }>`SELECT count(*)::text AS n, md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '')) AS digest
      FROM ${sql.table(name)} t`.execute(db);
    state[name] = `${rows[0]!.n} rows, content ${rows[0]!.digest}`;
  }
  return state;
}

describe('api path spellings', () => {
  let h: ApiHarness;
  let redis: Redis;
  let uiDir: string;
  let base: URL;
  /** Path parameter values by the collection segment before them; DELETE gets its own victim. */
  const ids: Record<string, { main: number; spare: number }> = {};
  let settings: Record<string, unknown>;

  before(async () => {
    // A stand-in build of the console, so the SPA fallback is in play for every spelling.
    uiDir = mkdtempSync(join(tmpdir(), 'pgw-spellings-ui-'));
    writeFileSync(join(uiDir, 'index.html'), '<!doctype html><div id="app"></div>');
    mkdirSync(join(uiDir, 'assets'));
    writeFileSync(join(uiDir, 'assets', 'app.js'), 'console.log(1)');
    h = await ApiHarness.start({ PGW_UI_DIR: uiDir });
    redis = connectRedis(h.config.PGW_REDIS_URL);
    base = new URL(h.url);
    // Nothing answers the probe queue here: gated calls of the control give up after 1.5 s.
    await h.db.updateTable('settings').set({ probeTimeoutMs: 500 }).where('id', '=', 1).execute();
    const proxy = { main: await h.seedProxy('main'), spare: await h.seedProxy('spare') };
    ids.proxies = proxy;
    ids.mappings = { main: await h.seedMapping(proxy.main, '192.168.2.10', 20000), spare: await h.seedMapping(proxy.main, '192.168.2.11', 20001) };
    // A quota on the main mapping, so that the admin's quota reset in the control reaches its handler.
    await h.db.updateTable('mappings').set({ quotaBytes: 10_000_000 }).where('id', '=', ids.mappings.main).execute();
    const victor = await h.db.selectFrom('users').select('id').where('username', '=', VIEWER.username).executeTakeFirstOrThrow();
    const spare = await h.db.insertInto('users').values({ username: 'spare', passwordHash: 'x', role: 'viewer' }).returning('id').executeTakeFirstOrThrow();
    ids.users = { main: victor.id, spare: spare.id };
    const admin = await h.login(ADMIN);
    settings = JSON.parse((await send(base, 'GET', '/api/v1/settings', { authorization: `Bearer ${admin.token}` })).text) as Record<string, unknown>;
  });
  after(async () => {
    // The control's probe jobs, which nothing here works off.
    if (redis && h) for (const key of await redisKeys()) await redis.del(key);
    redis?.disconnect();
    await h?.stop();
    if (uiDir) rmSync(uiDir, { recursive: true, force: true });
  });

  /** This api's keys in the shared Redis: its BullMQ queue and its notice stream. */
  const redisKeys = async () => [...(await redis.keys(`${h.queuePrefix}:*`)), ...(await redis.keys(h.stream))].sort();
  const redisState = async () => ({ keys: await redisKeys(), streamLength: await redis.xlen(h.stream) });

  const json = (value: unknown): Body => ({ type: 'application/json', text: JSON.stringify(value) });
  /** Inputs each operation accepts (checked by the control below); `me` is the caller. */
  const BODIES: Record<string, (me: { username: string; password: string }) => Body> = {
    login: () => json(VIEWER),
    // The same password again: a call that got through would still rewrite the hash and end sessions.
    changePassword: (me) => json({ currentPassword: me.password, newPassword: me.password }),
    // The caller's own password: a spelling that got through would mint the credential.
    createUser: (me) => json({ username: 'intruder', password: 'intruder-password-1', role: 'admin', currentPassword: me.password }),
    updateUser: (me) => json({ role: 'admin', currentPassword: me.password }),
    createProxy: () => json({ name: 'intruder', url: 'http://198.51.100.20:3128' }),
    updateProxy: () => json({ name: 'renamed' }),
    createMapping: () => json({ clientIp: '192.168.2.50', proxyId: ids.proxies!.main, enabled: false }),
    updateMapping: () => json({ description: 'edited' }),
    importMappings: () => ({ type: 'text/csv', text: `client_ip,proxy_id,enabled\n192.168.2.51,${ids.proxies!.main},false\n` }),
    previewMappingsImport: () => ({ type: 'text/csv', text: `client_ip,proxy_id,enabled\n192.168.2.52,${ids.proxies!.main},false\n` }),
    // A tag: no probe needed, so the admin control gets a 200; a refused one would write a row and an audit.
    bulkMappings: () => json({ ids: [ids.mappings!.main], action: 'addTags', tags: ['intruder'] }),
    putSettings: () => json({ ...settings, healthIntervalS: 3600 }),
  };

  const concretePath = (op: SpecOperation) =>
    op.template.replace(/\/([^/]+)\/\{[^}]+\}/g, (_all, collection: string) => {
      const values = ids[collection];
      assert.ok(values, `${op.operationId}: no fixture for the parameter after /${collection}`);
      return `/${collection}/${op.method === 'DELETE' ? values.spare : values.main}`;
    });
  const bodyFor = (op: SpecOperation, me: { username: string; password: string }) => {
    if (!op.bodyType) return undefined;
    const body = BODIES[op.operationId]?.(me);
    assert.ok(body, `${op.operationId}: no request body in BODIES`);
    return body;
  };

  it('has valid inputs for every operation of the spec that takes a body', () => {
    assert.ok(OPERATIONS.length >= 30, `read ${OPERATIONS.length} operations from API_SPEC.yaml`);
    assert.deepEqual(Object.keys(BODIES).sort(), OPERATIONS.filter((op) => op.bodyType).map((op) => op.operationId).sort());
  });

  for (const who of ['anonymous', 'viewer'] as const) {
    it(`${who}: no other spelling and no method override of any operation succeeds, and nothing changes`, async () => {
      // Sessions first (a login may write an audit row), one per operation so no refused call can end another's.
      const sessions = new Map<string, Session>();
      if (who === 'viewer') for (const op of OPERATIONS) sessions.set(op.operationId, await h.login(VIEWER));
      const databaseBefore = await databaseState(h.db);
      const redisBefore = await redisState();
      const lastAudit = await h.db.selectFrom('auditLog').select((eb) => eb.fn.max('id').as('id')).executeTakeFirstOrThrow();
      const failures: string[] = [];
      let sent = 0;
      for (const op of OPERATIONS) {
        const session = sessions.get(op.operationId);
        const auth: Record<string, string> = session ? { authorization: `Bearer ${session.token}` } : {};
        // Accept html, so a console fallback that took an API spelling would show.
        const headers = { ...auth, accept: 'text/html,application/json;q=0.9,*/*;q=0.8' };
        const body = bodyFor(op, VIEWER);
        const path = concretePath(op);
        const attempts = pathSpellings(path).map((s) => ({ method: op.method, path: s.path, why: s.why, headers }));
        // Method override: a method the path does not have, asking to be taken for the operation's.
        const carrier = ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'].find((m) => !SPEC.paths[op.template]![m.toLowerCase()])!;
        for (const header of OVERRIDE_HEADERS) attempts.push({ method: carrier, path, why: `${carrier} with ${header}: ${op.method}`, headers: { ...headers, [header]: op.method } });
        attempts.push({ method: carrier, path: `${path}?_method=${op.method}`, why: `${carrier} with ?_method=${op.method}`, headers });
        for (const attempt of attempts) {
          const reply = await send(base, attempt.method, attempt.path, attempt.headers, body);
          sent++;
          if (reply.status < 400 || reply.status >= 500) failures.push(`${op.operationId} ${attempt.method} ${attempt.path} (${attempt.why}): ${reply.status} ${reply.text.slice(0, 120)}`);
        }
      }
      const audit = await h.db.selectFrom('auditLog').select(['action', 'entityType', 'entityId']).where('id', '>', lastAudit.id ?? 0).execute();
      assert.deepEqual(failures, [], `${failures.length} of ${sent} requests were not refused with a 4xx`);
      assert.deepEqual(audit, [], 'audit rows written by refused requests');
      assert.deepEqual(await databaseState(h.db), databaseBefore, 'the database changed');
      assert.deepEqual(await redisState(), redisBefore, "this api's Redis keys or its notice stream changed");
    });
  }

  it('control: the exact spelling of each of those requests, as an admin, reaches its handler', async () => {
    const failures: string[] = [];
    for (const op of OPERATIONS) {
      const session = await h.login(ADMIN);
      const reply = await send(base, op.method, concretePath(op), { authorization: `Bearer ${session.token}` }, bodyFor(op, ADMIN));
      // 504: the handler asked the (absent) health service for a probe, i.e. it got past routing, access and validation.
      const reached = (reply.status >= 200 && reply.status < 300) || (reply.status === 504 && reply.text.includes('probe_timeout'));
      if (!reached) failures.push(`${op.operationId} ${op.method} ${concretePath(op)}: ${reply.status} ${reply.text.slice(0, 160)}`);
    }
    assert.deepEqual(failures, []);
  });

  it('serves the console and the api docs only on their own clean paths, never on a spelling of an api path', async () => {
    const get = (path: string, method = 'GET') => send(base, method, path, { accept: 'text/html' });
    for (const path of ['/', '/mappings', '/proxies/12', '/assets/app.js', '/api/docs', '/api/docs/openapi.yaml', '/api/docs/swagger-ui-bundle.js']) {
      assert.equal((await get(path)).status, 200, path);
    }
    const refused = [
      '/API/docs', '/api/DOCS/openapi.yaml', '//api/docs', '/api/docs/../v1/proxies', '/api/docs/package.json', '/api/docs/index.html',
      '/API', '/api', '/api/', '/Api/v2/x', '/HEALTHZ', '/Readyz/', '/%61pi/v1/users', '/x/../api/v1/users', '/x/..', '/./mappings',
      '//mappings', '/mappings//x', '/mappings;x', '/mappings%00', '/%2e%2e/etc/passwd', '/assets/%2e%2e/index.html', '/assets\\app.js',
      'http://127.0.0.1/mappings', '/mappings#x',
    ];
    for (const path of refused) {
      const reply = await get(path);
      assert.ok(reply.status >= 400 && reply.status < 500, `${path}: ${reply.status}`);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) assert.equal((await get('/mappings', method)).status, 404, `${method} /mappings`);
  });
});
