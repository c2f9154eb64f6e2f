// Every operation of API_SPEC.yaml against the real Postgres, a private Redis, the real health service
// and a real dante proxy. Every response is checked against the spec by the harness (and by the
// server's own response validation); the last test proves every operation was exercised.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decryptSecret } from '@pgw/crypto';
import { parseCsv } from '@pgw/domain/csv';
import { type AgentStatusRecord, CLIENT_USAGE_KEY, type ClientUsageSampleRecord, connectRedis, type ForwarderStatusRecord } from '@pgw/events';
import { writeNodeStatus } from '../support/node-status.js';
import { agentNeighboursKey, type NeighbourRecordInput, NODES_KEY } from '@pgw/events';
import type { Redis } from 'ioredis';
import { ADMIN, type ApiHarness, type Session, VIEWER } from './api-harness.js';
import { ApiStack } from './api-stack.js';

describe('api contract', () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let admin: Session;
  let viewer: Session;
  let redis: Redis;
  let danteId: number;
  let deadId: number;
  let mappingId: number;
  const as = (session: Session) => ({ auth: { bearer: session.token } });
  const cookie = (session: Session) => ({ auth: { session } });

  /** A mutation must add exactly `rows` audit rows; a failed one none. */
  async function audited<T>(rows: number, work: () => Promise<T>): Promise<T> {
    const before = await h.auditCount();
    const result = await work();
    assert.equal(await h.auditCount(), before + rows, `audit rows added (expected ${rows})`);
    return result;
  }
  const count = async (table: 'mappings' | 'proxies' | 'users') =>
    Number((await h.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

  before(async () => {
    stack = await ApiStack.start();
    h = stack.harness;
    redis = connectRedis(stack.redis.adminUrl); // stands in for the agent and forwarder
  });
  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('ops endpoints answer', async () => {
    assert.deepEqual((await h.call('GET', '/healthz')).body, { status: 'ok' });
    assert.deepEqual((await h.call('GET', '/readyz')).body, { status: 'ready', checks: { postgres: true, redis: true } });
    // Metrics are served by a listener of their own, not on the API port.
    const metrics = await fetch(`${h.api.metricsUrl}/metrics`);
    assert.match(await metrics.text(), /pgw_api_http_request_duration_seconds_bucket\{.*route="\/readyz"/);
    assert.equal((await fetch(`${h.url}/metrics`)).status, 404);
  });

  it('logs in, refuses bad credentials and malformed bodies, returns request ids', async () => {
    assert.equal((await h.call('POST', '/api/v1/auth/login', { body: { username: ADMIN.username, password: 'wrong-password-1' } })).status, 401);
    const malformed = await h.call('POST', '/api/v1/auth/login', { body: { username: ADMIN.username } });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error.field, 'password');
    admin = await h.login(ADMIN);
    viewer = await h.login(VIEWER);
    const me = await h.call('GET', '/api/v1/auth/me', { ...cookie(admin), headers: { 'x-request-id': 'trace-me-1' } });
    assert.equal(me.body.username, ADMIN.username);
    assert.equal(me.headers.get('x-request-id'), 'trace-me-1');
    assert.match((await h.call('GET', '/api/v1/auth/me', as(viewer))).headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const csrf = await h.call('GET', '/api/v1/auth/csrf', cookie(admin));
    assert.equal(typeof csrf.body.csrfToken, 'string');
    admin = { ...admin, csrfToken: csrf.body.csrfToken, cookie: mergeCookies(admin.cookie, csrf.headers.getSetCookie()) };
  });

  it('creates proxies from a URL or fields, seals the password, never returns it', async () => {
    const created = await audited(1, () => h.call('POST', '/api/v1/proxies', { ...cookie(admin), body: { name: 'dante', url: stack.dante.url } }));
    assert.equal(created.status, 201);
    danteId = created.body.id;
    assert.equal(created.body.status, 'unknown');
    const secret = await audited(1, () =>
      h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'dead', protocol: 'socks5', host: stack.deadEndpoint.host, port: stack.deadEndpoint.port, username: 'u1', password: 'p4ssw0rd-secret' } }),
    );
    assert.equal(secret.status, 201);
    deadId = secret.body.id;
    assert.equal(secret.body.hasPassword, true);
    assert.equal(secret.text.includes('p4ssw0rd-secret'), false);
    const stored = await h.db.selectFrom('proxies').select('passwordEnc').where('id', '=', deadId).executeTakeFirstOrThrow();
    assert.notEqual(stored.passwordEnc, 'p4ssw0rd-secret');
    assert.equal(decryptSecret(stored.passwordEnc!, h.secretKey), 'p4ssw0rd-secret');
    const audit = await h.db.selectFrom('auditLog').select('after').where('entityType', '=', 'proxy').where('entityId', '=', String(deadId)).executeTakeFirstOrThrow();
    assert.equal(JSON.stringify(audit.after).includes('p4ssw0rd'), false);

    const badHost = await audited(0, () => h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'x', protocol: 'http', host: 'bad host', port: 3128 } }));
    assert.equal(badHost.status, 400);
    assert.equal(badHost.body.error.field, 'host');
    const badUrl = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'x', url: 'ftp://h:21' } });
    assert.deepEqual([badUrl.status, badUrl.body.error.field], [400, 'url']);
    const duplicate = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'dante', url: 'http://h:1' } });
    assert.deepEqual([duplicate.status, duplicate.body.error.field], [409, 'name']);
    assert.equal((await h.call('GET', '/api/v1/proxies/999', as(viewer))).status, 404);
    assert.equal((await h.call('GET', '/api/v1/proxies/abc', as(viewer))).status, 400);
    assert.equal((await h.call('GET', `/api/v1/proxies/${danteId}`, as(viewer))).body.name, 'dante');
    assert.equal((await h.call('GET', '/api/v1/proxies', as(viewer))).body.items.length, 2);
    const renamed = await audited(1, () => h.call('PATCH', `/api/v1/proxies/${deadId}`, { ...as(admin), body: { name: 'dead-proxy' } }));
    assert.deepEqual([renamed.body.name, renamed.body.hasPassword], ['dead-proxy', true]);
    assert.equal((await h.call('PATCH', '/api/v1/proxies/999', { ...as(admin), body: { name: 'zzz' } })).status, 404);
  });

  it('probes a proxy on demand through the health service and lists its checks', async () => {
    const check = await h.call('POST', `/api/v1/proxies/${danteId}/check`, as(admin));
    assert.equal(check.status, 200);
    assert.equal(check.body.ok, true, JSON.stringify(check.body));
    assert.equal(check.body.exitIp, stack.dante.ip);
    const dead = await h.call('POST', `/api/v1/proxies/${deadId}/check`, as(admin));
    assert.equal(dead.body.ok, false);
    assert.ok(dead.body.error);
    const checks = await h.call('GET', `/api/v1/proxies/${danteId}/checks?limit=1`, as(viewer));
    assert.equal(checks.body.items.length, 1);
    assert.equal(checks.body.items[0].ok, true);
    assert.equal((await h.call('GET', '/api/v1/proxies/999/checks', as(viewer))).status, 404);
    // Every exit IP seen, with first and last seen (issue 17; the health service writes it with the check).
    const exitIps = await h.call('GET', `/api/v1/proxies/${danteId}/exit-ips`, as(viewer));
    assert.deepEqual(exitIps.body.items.map((i: { exitIp: string }) => i.exitIp), [stack.dante.ip]);
    assert.equal((await h.call('GET', '/api/v1/proxies/999/exit-ips', as(viewer))).status, 404);
    assert.equal((await h.call('POST', '/api/v1/proxies/999/check', as(admin))).status, 404);
  });

  it('creates a mapping only through a healthy proxy; every failure names its field and stores nothing', async () => {
    const rejected = async (body: object, status: number, field: string) => {
      const [mappings, audits] = [await count('mappings'), await h.auditCount()];
      const res = await h.call('POST', '/api/v1/mappings', { ...as(admin), body });
      assert.equal(res.status, status, `${JSON.stringify(body)} -> ${res.text}`);
      assert.equal(res.body.error.field, field);
      assert.deepEqual([await count('mappings'), await h.auditCount()], [mappings, audits], 'nothing stored');
      return res;
    };
    const created = await audited(1, () => h.call('POST', '/api/v1/mappings', { ...as(admin), body: { clientIp: '192.168.2.10', proxyId: danteId, description: 'desk' } }));
    assert.equal(created.status, 201, created.text);
    mappingId = created.body.id;
    assert.equal(created.body.listenPort, 20000, 'lowest free port allocated');
    assert.deepEqual(created.body.effective, { state: 'not_applied', reason: 'agent_unavailable' });
    await rejected({ clientIp: '10.1.1.1', proxyId: danteId }, 400, 'clientIp');
    await rejected({ clientIp: '192.168.2.300', proxyId: danteId }, 400, 'clientIp');
    await rejected({ clientIp: '192.168.2.11', proxyId: 999 }, 404, 'proxyId');
    await rejected({ clientIp: '192.168.2.10', proxyId: danteId }, 409, 'clientIp');
    await rejected({ clientIp: '192.168.2.11', proxyId: danteId, listenPort: 20000 }, 409, 'listenPort');
    await rejected({ clientIp: '192.168.2.11', proxyId: danteId, listenPort: 40000 }, 400, 'listenPort');
    await rejected({ clientIp: '192.168.2.11', proxyId: danteId, colour: 'red' }, 400, 'colour');
    // Past Postgres' integer: a clear 400, not its out-of-range error as a 500.
    await rejected({ clientIp: '192.168.2.11', proxyId: 3_000_000_000 }, 400, 'proxyId');
    await rejected({ clientIp: '192.168.2.11', proxyId: danteId, failPolicy: 'backup', backupProxyIds: [3_000_000_000] }, 400, 'backupProxyIds.0');
    const gate = await rejected({ clientIp: '192.168.2.11', proxyId: deadId }, 422, 'proxyId');
    assert.equal(gate.body.error.code, 'probe_failed');
    assert.match(gate.body.error.message, /failed its health check: .+/);
  });

  it('reads, filters, edits, disables and enables mappings', async () => {
    assert.equal((await h.call('GET', `/api/v1/mappings/${mappingId}`, as(viewer))).body.clientIp, '192.168.2.10');
    assert.equal((await h.call('GET', '/api/v1/mappings/999', as(viewer))).status, 404);
    const list = await h.call('GET', '/api/v1/mappings?limit=10&offset=0&q=desk', as(viewer));
    assert.deepEqual([list.body.total, list.body.items[0].id], [1, mappingId]);
    assert.equal((await h.call('GET', '/api/v1/mappings?state=effective', as(viewer))).body.total, 0);
    assert.equal((await h.call('GET', '/api/v1/mappings?limit=5000', as(viewer))).status, 400);
    for (const query of ['proxyId=3000000000', 'offset=1e300', 'offset=3000000000']) {
      const res = await h.call('GET', `/api/v1/mappings?${query}`, as(viewer));
      assert.deepEqual([res.status, res.body.error?.field], [400, query.split('=')[0]], `${query}: ${res.text}`);
    }
    const bulk = await h.call('POST', '/api/v1/mappings/bulk', { ...as(admin), body: { ids: [3_000_000_000], action: 'enable' } });
    assert.deepEqual([bulk.status, bulk.body.error?.field], [400, 'ids.0'], bulk.text);
    const edited = await audited(1, () => h.call('PATCH', `/api/v1/mappings/${mappingId}`, { ...as(admin), body: { description: 'desk 2' } }));
    assert.equal(edited.body.description, 'desk 2');
    const toDead = await audited(0, () => h.call('PATCH', `/api/v1/mappings/${mappingId}`, { ...as(admin), body: { proxyId: deadId } }));
    assert.equal(toDead.status, 422);
    assert.equal((await h.call('GET', `/api/v1/mappings/${mappingId}`, as(viewer))).body.proxyId, danteId, 'unchanged');
    const disabled = await audited(1, () => h.call('POST', `/api/v1/mappings/${mappingId}/disable`, as(admin)));
    assert.equal(disabled.body.enabled, false);
    const enabled = await audited(1, () => h.call('POST', `/api/v1/mappings/${mappingId}/enable`, as(admin)));
    assert.equal(enabled.body.enabled, true);
    assert.equal((await h.call('POST', '/api/v1/mappings/999/enable', as(admin))).status, 404);
    assert.equal((await h.call('POST', '/api/v1/mappings/999/disable', as(admin))).status, 404);
    assert.equal((await h.call('PATCH', '/api/v1/mappings/999', { ...as(admin), body: { description: 'x' } })).status, 404);
  });

  it('shows what the agent really applied and sums it up for the dashboard', async () => {
    const later = new Date(Date.now() + 1000).toISOString();
    await writeNodeStatus(redis, {
      agent: { ok: true, at: later, durationMs: 4, appliedMappings: 1, blocked: { '192.168.2.10': 'proxy_unknown' }, rejected: [], error: null } satisfies AgentStatusRecord,
      forwarder: { at: later, activeConnections: 3, perMapping: { [mappingId]: 3 }, listeners: 1 } satisfies ForwarderStatusRecord,
    });
    const mapping = await h.call('GET', `/api/v1/mappings/${mappingId}`, as(viewer));
    assert.deepEqual(mapping.body.effective, { state: 'blocked', reason: 'proxy_unknown' });
    assert.equal((await h.call('GET', '/api/v1/mappings?state=blocked', as(viewer))).body.total, 1);
    const status = await h.call('GET', '/api/v1/status', as(viewer));
    assert.equal(status.body.clientsBlocked, 1);
    assert.equal(status.body.activeConnections, 3);
    assert.deepEqual(status.body.mappings, { total: 1, enabled: 1 });
    assert.equal(status.body.proxies.total, 2);
    assert.equal(status.body.agent.lastReconcileAt, later);
  });

  it('lists the LAN devices the agent reports, each with the mapping of its IP', async () => {
    assert.deepEqual((await h.call('GET', '/api/v1/devices', as(viewer))).body, { reportedAt: null, interface: null, omitted: 0, items: [] }, 'no report: unknown');
    const seen = (ip: string, mac: string) => ({ ip, mac, state: 'REACHABLE' as const, firstSeen: '2026-01-01T00:00:01.000Z', lastSeen: '2026-01-01T00:00:02.000Z' });
    const record: NeighbourRecordInput = { at: '2026-01-01T00:00:03.000Z', interface: 'ens19', omitted: 0, neighbours: [seen('192.168.2.77', '02:00:00:00:00:77'), seen('192.168.2.10', '02:00:00:00:00:10')] };
    // One record per gateway node (issue 18), found through the node list the agents keep.
    await redis.set(agentNeighboursKey('gw1'), JSON.stringify(record), 'EX', 60);
    await redis.zadd(NODES_KEY, Date.now(), 'gw1');
    const all = await h.call('GET', '/api/v1/devices', as(viewer));
    assert.deepEqual(all.body.items.map((d: { ip: string; mappingId: number | null }) => [d.ip, d.mappingId]), [['192.168.2.10', mappingId], ['192.168.2.77', null]]);
    assert.equal(all.body.reportedAt, '2026-01-01T00:00:03.000Z');
    const unmapped = await h.call('GET', '/api/v1/devices?unmapped=true', as(viewer));
    assert.deepEqual(unmapped.body.items.map((d: { ip: string }) => d.ip), ['192.168.2.77']);
    assert.equal((await h.call('GET', '/api/v1/devices?unmapped=maybe', as(viewer))).status, 400);
  });

  it('lists the gateway nodes: without HA, no master and no conflict (the pair is api-nodes.test.ts)', async () => {
    const nodes = await h.call('GET', '/api/v1/nodes', as(viewer));
    assert.equal(nodes.status, 200);
    assert.equal(nodes.body.ha, false);
    assert.equal(nodes.body.master, null);
    assert.equal(nodes.body.conflict, false);
  });

  it('tags mappings in bulk and takes the tags off again, one audit row per mapping changed', async () => {
    const tagged = await audited(1, () => h.call('POST', '/api/v1/mappings/bulk', { ...as(admin), body: { ids: [mappingId], action: 'addTags', tags: ['floor-2'] } }));
    assert.deepEqual(tagged.body, { action: 'addTags', changed: 1, unchanged: 0 });
    assert.deepEqual((await h.call('GET', `/api/v1/mappings/${mappingId}`, as(viewer))).body.tags, ['floor-2']);
    assert.equal((await h.call('POST', '/api/v1/mappings/bulk', { ...as(admin), body: { ids: [mappingId], action: 'addTags', tags: ['Floor 2'] } })).status, 400);
    assert.equal((await h.call('POST', '/api/v1/mappings/bulk', { ...as(admin), body: { ids: [mappingId, 999], action: 'removeTags', tags: ['floor-2'] } })).status, 404);
    await audited(1, () => h.call('POST', '/api/v1/mappings/bulk', { ...as(admin), body: { ids: [mappingId], action: 'removeTags', tags: ['floor-2'] } }));
    assert.deepEqual((await h.call('GET', `/api/v1/mappings/${mappingId}`, as(viewer))).body.tags, []);
  });

  it('limits and quota: set, refused naming the field, reset (audited); usage and top talkers from the agents\' samples', async () => {
    const limited = await audited(1, () => h.call('PATCH', `/api/v1/mappings/${mappingId}`, { ...as(admin), body: { rateDownKbit: 50_000, rateUpKbit: 20_000, quotaBytes: 10_000_000 } }));
    assert.deepEqual([limited.body.rateDownKbit, limited.body.rateUpKbit, limited.body.quotaBytes, limited.body.quota], [50_000, 20_000, 10_000_000, { epoch: 0, usedBytes: null, exceeded: false }]);
    const low = await audited(0, () => h.call('PATCH', `/api/v1/mappings/${mappingId}`, { ...as(admin), body: { rateUpKbit: 10 } }));
    assert.deepEqual([low.status, low.body.error.field], [400, 'rateUpKbit']);
    // The agents' samples (pgw:usage): cumulative counters; the api stores the differences.
    const sampled = (seconds: number, up: number, down: number): ClientUsageSampleRecord => ({
      node: 'gw-a', sampledAt: new Date(Date.now() - 20_000 + seconds * 1000).toISOString(), countersSince: '2026-01-01T00:00:00.000Z', sampleMs: 2,
      clients: { '192.168.2.10': { mappingId, bytesUp: up, bytesDown: down, connections: 2, overQuota: true,
        quota: { limitBytes: 10_000_000, usedBytes: 10_000_001, epoch: 0, period: 'monthly', periodStart: '2026-01-01T00:00:00.000Z', resetsAt: '2027-01-01T00:00:00.000Z' } } },
    });
    await redis.hset(CLIENT_USAGE_KEY, 'gw-a', JSON.stringify(sampled(0, 1_000, 9_000)));
    await h.api.usageRecorder.poll();
    await redis.hset(CLIENT_USAGE_KEY, 'gw-a', JSON.stringify(sampled(10, 4_000, 19_000)));
    await h.api.usageRecorder.poll();
    const usage = await h.call('GET', `/api/v1/mappings/${mappingId}/usage`, as(viewer));
    assert.equal(usage.body.resolution, 'hour');
    assert.deepEqual(usage.body.totals, { bytesUp: 4_000, bytesDown: 19_000, connections: 2 });
    assert.equal((await h.call('GET', `/api/v1/mappings/${mappingId}/usage?from=2026-12-01T10:00:00Z&to=2026-12-01T09:00:00Z`, as(viewer))).body.error.field, 'from');
    assert.equal((await h.call('GET', '/api/v1/mappings/999/usage', as(viewer))).status, 404);
    const top = await h.call('GET', '/api/v1/usage/top?limit=5', as(viewer));
    assert.deepEqual(top.body.items, [{ clientIp: '192.168.2.10', mappingId, description: 'desk 2', bytesUp: 4_000, bytesDown: 19_000 }]);
    const over = await h.call('GET', `/api/v1/mappings/${mappingId}`, as(viewer));
    assert.deepEqual(over.body.quota, { epoch: 0, usedBytes: 10_000_001, exceeded: true });
    assert.equal((await h.call('POST', `/api/v1/mappings/${mappingId}/quota-reset`, as(viewer))).status, 403);
    const reset = await audited(1, () => h.call('POST', `/api/v1/mappings/${mappingId}/quota-reset`, as(admin)));
    assert.deepEqual(reset.body.quota, { epoch: 1, usedBytes: null, exceeded: false }, "the old epoch's count is not the new one's");
    assert.equal((await h.call('POST', '/api/v1/mappings/999/quota-reset', as(admin))).status, 404);
    const lifted = await h.call('PATCH', `/api/v1/mappings/${mappingId}`, { ...as(admin), body: { rateDownKbit: null, rateUpKbit: null, quotaBytes: null } });
    assert.deepEqual([lifted.body.rateDownKbit, lifted.body.quotaBytes], [null, null]);
    assert.equal((await h.call('POST', `/api/v1/mappings/${mappingId}/quota-reset`, as(admin))).status, 409);
    await redis.del(CLIENT_USAGE_KEY);
  });

  it('previews a CSV import without writing anything', async () => {
    const exported = (await h.call('GET', '/api/v1/mappings/export', as(viewer))).text;
    const unchanged = await audited(0, () => h.call('POST', '/api/v1/mappings/import/preview', { ...as(admin), csv: exported }));
    assert.deepEqual([unchanged.body.added, unchanged.body.changed, unchanged.body.rejected], [[], [], []]);
    assert.ok(unchanged.body.unchanged >= 1);
    const bad = await h.call('POST', '/api/v1/mappings/import/preview', { ...as(admin), csv: 'client_ip,proxy_name\n10.0.0.1,nope\n' });
    assert.deepEqual(bad.body.rejected.map((r: { line: number }) => r.line), [2, 2]);
    assert.equal((await h.call('POST', '/api/v1/mappings/import/preview', { ...as(admin), csv: '' })).status, 400);
  });

  it('exports CSV and imports it back all or nothing, health-gated', async () => {
    const exported = await h.call('GET', '/api/v1/mappings/export', as(viewer));
    assert.match(exported.headers.get('content-type') ?? '', /^text\/csv/);
    assert.equal(exported.text, 'client_ip,proxy_name,listen_port,enabled,description,mac_address,rate_down_kbit,rate_up_kbit,quota_bytes,tags\r\n192.168.2.10,dante,20000,true,desk 2,,,,,\r\n');
    const csv = 'client_ip,proxy_name,listen_port,enabled,description\r\n192.168.2.10,dante,20000,true,desk 3\r\n192.168.2.20,dante,,true,"new, one"\r\n';
    const imported = await audited(2, () => h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv }));
    assert.deepEqual(imported.body, { created: 1, updated: 1, unchanged: 0 });
    const badRow = await audited(0, () => h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv: 'client_ip,proxy_name\n192.168.2.30,dante\n10.0.0.1,dante\n' }));
    assert.equal(badRow.status, 400);
    assert.deepEqual(badRow.body.error.details.rows, [{ line: 3, field: 'client_ip', message: 'client_ip 10.0.0.1 is not inside the LAN 192.168.2.0/24' }]);
    const dup = await h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv: 'client_ip,proxy_name,listen_port\n192.168.2.31,dante,20000\n' });
    assert.deepEqual([dup.status, dup.body.error.field], [409, 'listen_port']);
    const gated = await audited(0, () => h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv: 'client_ip,proxy_name\n192.168.2.32,dead-proxy\n' }));
    assert.deepEqual([gated.status, gated.body.error.code], [422, 'probe_failed']);
    assert.equal(await count('mappings'), 2);
    const deleted = await audited(1, () => h.call('DELETE', `/api/v1/mappings/${mappingId}`, as(admin)));
    assert.equal(deleted.status, 204);
    assert.equal((await h.call('DELETE', `/api/v1/mappings/${mappingId}`, as(admin))).status, 404);
  });

  it('reads and replaces settings, refusing a change that would orphan mappings', async () => {
    const settings = (await h.call('GET', '/api/v1/settings', as(viewer))).body;
    const saved = await audited(1, () => h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, healthIntervalS: 45 } }));
    assert.equal(saved.body.healthIntervalS, 45);
    const orphan = await audited(0, () => h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, lanCidr: '10.9.0.0/16' } }));
    assert.deepEqual([orphan.status, orphan.body.error.field], [409, 'lanCidr']);
    const invalid = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, lanCidr: '192.168.2.1/24' } });
    assert.deepEqual([invalid.status, invalid.body.error.field], [400, 'lanCidr']);
    // Holding every mapping, and meaning nothing as a LAN: every address a client, every proxy "on the LAN".
    for (const lanCidr of ['0.0.0.0/0', '192.0.0.0/2']) {
      const everything = await audited(0, () => h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, lanCidr } }));
      assert.deepEqual([everything.status, everything.body.error.field], [400, 'lanCidr'], lanCidr);
      assert.match(everything.body.error.message, /wider than \/8/);
    }
    const reversed = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, forwarderPortMin: 30000, forwarderPortMax: 20000 } });
    assert.deepEqual([reversed.status, reversed.body.error.field], [400, 'forwarderPortMin']);
    // A narrower LAN whose broadcast address a stored client has: no host's address, refused as a new client's is.
    const edge = await h.call('POST', '/api/v1/mappings', { ...as(admin), body: { clientIp: '192.168.2.31', proxyId: danteId } });
    assert.equal(edge.status, 201);
    try {
      const narrowed = await audited(0, () => h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, lanCidr: '192.168.2.0/27' } }));
      assert.deepEqual([narrowed.status, narrowed.body.error.field], [409, 'lanCidr']);
      assert.match(narrowed.body.error.message, /1 mapping\(s\) have a client at the network or broadcast address of 192\.168\.2\.0\/27/);
    } finally {
      assert.equal((await h.call('DELETE', `/api/v1/mappings/${edge.body.id}`, as(admin))).status, 204);
    }
  });

  it('refuses to delete a proxy in use, deletes an unused one', async () => {
    const inUse = await audited(0, () => h.call('DELETE', `/api/v1/proxies/${danteId}`, as(admin)));
    assert.equal(inUse.status, 409);
    assert.equal((await audited(1, () => h.call('DELETE', `/api/v1/proxies/${deadId}`, as(admin)))).status, 204);
    assert.equal((await h.call('DELETE', `/api/v1/proxies/${deadId}`, as(admin))).status, 404);
  });

  it('manages users and keeps the last admin', async () => {
    assert.equal((await h.call('GET', '/api/v1/users', as(admin))).body.items.length, 2);
    const created = await audited(1, () => h.call('POST', '/api/v1/users', { ...as(admin), body: { username: 'carol', password: 'carol-password-1', role: 'viewer', currentPassword: ADMIN.password } }));
    assert.equal(created.status, 201);
    assert.equal((await h.call('POST', '/api/v1/users', { ...as(admin), body: { username: 'carol', password: 'carol-password-1', role: 'viewer', currentPassword: ADMIN.password } })).status, 409);
    assert.equal((await h.call('POST', '/api/v1/users', { ...as(admin), body: { username: 'dave', password: 'short', role: 'viewer', currentPassword: ADMIN.password } })).body.error.field, 'password');
    assert.equal((await h.call('GET', `/api/v1/users/${created.body.id}`, as(admin))).body.username, 'carol');
    assert.equal((await h.call('GET', '/api/v1/users/999', as(admin))).status, 404);
    const carol = await h.login({ username: 'carol', password: 'carol-password-1' });
    assert.equal((await audited(1, () => h.call('PATCH', `/api/v1/users/${created.body.id}`, { ...as(admin), body: { role: 'admin', currentPassword: ADMIN.password } }))).body.role, 'admin');
    assert.equal((await h.call('GET', '/api/v1/auth/me', as(carol))).status, 401, 'a role change revokes the old tokens');
    const me = (await h.call('GET', '/api/v1/auth/me', as(admin))).body;
    assert.equal((await audited(1, () => h.call('DELETE', `/api/v1/users/${created.body.id}`, as(admin)))).status, 204);
    const last = await h.call('PATCH', `/api/v1/users/${me.id}`, { ...as(admin), body: { role: 'viewer' } });
    assert.deepEqual([last.status, last.body.error.field], [409, 'role']);
    assert.equal((await h.call('DELETE', `/api/v1/users/${me.id}`, as(admin))).status, 409);
    assert.equal((await h.call('DELETE', '/api/v1/users/999', as(admin))).status, 404);
    assert.equal((await h.call('PATCH', '/api/v1/users/999', { ...as(admin), body: { role: 'viewer' } })).status, 404);
  });

  it('filters and pages the audit log; rows carry actor, source IP and request id', async () => {
    const page = await h.call('GET', `/api/v1/audit?actor=${ADMIN.username}&entityType=mapping&limit=2`, as(admin));
    assert.equal(page.body.items.length, 2);
    assert.ok(page.body.nextCursor);
    for (const row of page.body.items) {
      assert.deepEqual([row.actorUsername, row.entityType, row.sourceIp], [ADMIN.username, 'mapping', '127.0.0.1']);
      assert.ok(row.requestId);
    }
    // A viewer reads the same rows without where they came from (source IP, User-Agent).
    const viewed = await h.call('GET', `/api/v1/audit?actor=${ADMIN.username}&entityType=mapping&limit=2`, as(viewer));
    assert.deepEqual(viewed.body.items.map((r: { id: string; sourceIp: string | null; userAgent: string | null }) => [r.id, r.sourceIp, r.userAgent]), page.body.items.map((r: { id: string }) => [r.id, null, null]));
    const next = await h.call('GET', `/api/v1/audit?actor=${ADMIN.username}&entityType=mapping&limit=2&before=${page.body.nextCursor}`, as(viewer));
    assert.ok(Number(next.body.items[0].id) < Number(page.body.items[1].id));
    // A cursor past Postgres' bigint is refused naming it (was its out-of-range error as a 500).
    const pastBigint = await h.call('GET', '/api/v1/audit?before=9999999999999999999', as(viewer));
    assert.deepEqual([pastBigint.status, pastBigint.body.error?.field], [400, 'before'], pastBigint.text);
    const traced = await h.call('PATCH', `/api/v1/proxies/${danteId}`, { ...as(admin), body: { name: 'dante-1' }, headers: { 'x-request-id': 'trace-42' } });
    assert.equal(traced.status, 200);
    const byId = await h.call('GET', `/api/v1/audit?entityType=proxy&entityId=${danteId}&action=update&limit=1`, as(viewer));
    assert.equal(byId.body.items[0].requestId, 'trace-42');
    const future = await h.call('GET', `/api/v1/audit?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, as(viewer));
    assert.deepEqual(future.body.items, []);
    assert.equal((await h.call('GET', '/api/v1/audit?entityType=planet', as(viewer))).status, 400);
  });

  it('searches the audit log by source IP, free text and time range, and exports the same rows as CSV', async () => {
    const q = (query: string) => h.call('GET', `/api/v1/audit?${query}`, as(admin));
    // Free text reaches into the recorded change: the client IP of a mapping finds the changes that named it.
    const byText = await q('q=192.168.2.10&entityType=mapping&limit=1000');
    assert.ok(byText.body.items.length >= 2, `${byText.body.items.length} rows name 192.168.2.10`);
    for (const row of byText.body.items) assert.match(JSON.stringify([row.before, row.after]), /192\.168\.2\.10/);
    // LIKE's wildcards are literal: "%" matches only a literal percent sign.
    assert.deepEqual((await q('q=%25')).body.items, []);
    assert.equal((await q('q=DANTE-1&entityType=proxy')).body.items[0].after.name, 'dante-1', 'case-insensitive');
    assert.ok((await q('sourceIp=127.0.0.1&limit=5')).body.items.length > 0);
    assert.deepEqual((await q('sourceIp=203.0.113.9')).body.items, []);
    assert.deepEqual((await q('sourceIp=1.2.3')).body.items, [], 'a malformed address matches nothing');
    const reversed = await q(`from=${encodeURIComponent('2026-01-02T00:00:00Z')}&to=${encodeURIComponent('2026-01-01T00:00:00Z')}`);
    assert.deepEqual([reversed.status, reversed.body.error.field], [400, 'to']);
    assert.equal((await q('limit=1001')).status, 400);
    assert.equal((await q(`q=${'x'.repeat(101)}`)).status, 400);

    const search = await q('entityType=mapping&limit=1000');
    const exported = await h.call('GET', '/api/v1/audit/export?entityType=mapping', as(viewer));
    assert.match(exported.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(exported.headers.get('content-disposition') ?? '', /attachment; filename="pgw-audit\.csv"/);
    assert.equal(exported.headers.get('x-pgw-truncated'), 'false');
    const rows = parseCsv(exported.text).map((r) => r.fields);
    assert.deepEqual(rows[0], ['id', 'at', 'actor', 'source_ip', 'user_agent', 'action', 'entity_type', 'entity_id', 'before', 'after', 'request_id']);
    assert.deepEqual(rows.slice(1).map((r) => r[0]), search.body.items.map((r: { id: string }) => r.id));
    const bounded = await h.call('GET', '/api/v1/audit/export?entityType=mapping&limit=1', as(viewer));
    assert.deepEqual([bounded.headers.get('x-pgw-truncated'), bounded.headers.get('x-pgw-next-cursor'), parseCsv(bounded.text).length], ['true', search.body.items[0].id, 2]);
    assert.equal((await h.call('GET', '/api/v1/audit/export?limit=10001', as(viewer))).status, 400);
  });

  it('opens the event stream with the session cookie', async () => {
    const abort = new AbortController();
    const res = await fetch(`${h.url}/api/v1/events`, { headers: { cookie: viewer.cookie }, signal: abort.signal });
    h.contract.check('GET', '/api/v1/events', res.status, res.headers.get('content-type'), undefined);
    assert.equal(res.status, 200);
    abort.abort();
    assert.equal((await h.call('GET', '/api/v1/events')).status, 401);
  });

  it('changes a password, revoking every older token; logout revokes the current one', async () => {
    const wrong = await h.call('POST', '/api/v1/auth/password', { ...as(viewer), body: { currentPassword: 'nope-nope-nope', newPassword: 'victor-password-456' } });
    assert.deepEqual([wrong.status, wrong.body.error.code], [422, 'wrong_password']);
    const changed = await audited(1, () => h.call('POST', '/api/v1/auth/password', { ...as(viewer), body: { currentPassword: VIEWER.password, newPassword: 'victor-password-456' } }));
    assert.equal(changed.status, 200);
    assert.equal((await h.call('GET', '/api/v1/auth/me', as(viewer))).status, 401);
    const fresh = { token: changed.body.token, csrfToken: changed.body.csrfToken, cookie: '' };
    assert.equal((await h.call('GET', '/api/v1/auth/me', as(fresh))).status, 200);
    assert.equal((await h.call('POST', '/api/v1/auth/logout', as(fresh))).status, 204);
    assert.equal((await h.call('GET', '/api/v1/auth/me', as(fresh))).status, 401);
    assert.equal((await h.call('POST', '/api/v1/auth/logout', as(fresh))).status, 401);
    const session = await h.login(ADMIN);
    const out = await h.call('POST', '/api/v1/auth/logout', cookie(session));
    assert.equal(out.status, 204);
    assert.ok(out.headers.getSetCookie().some((c) => c.startsWith('pgw_session=;')), 'session cookie cleared');
  });

  it('exercised every operation of API_SPEC.yaml', () => {
    const missing = h.contract.operations().filter((op) => !h.contract.exercised.has(op));
    assert.deepEqual(missing, []);
  });
});

function mergeCookies(current: string, setCookies: string[]): string {
  const jar = new Map(current.split('; ').map((c) => [c.split('=')[0]!, c]));
  for (const set of setCookies) {
    const pair = set.split(';')[0]!;
    jar.set(pair.split('=')[0]!, pair);
  }
  return [...jar.values()].join('; ');
}
