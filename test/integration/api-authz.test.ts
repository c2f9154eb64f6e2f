// Authorisation matrix: anonymous, viewer and admin against every operation of API_SPEC.yaml, plus
// CSRF for cookie sessions and login throttling. Real Postgres and Redis (own stream and queue prefix).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ACCESS } from '../../services/api/src/http/access.js';
import { ADMIN, ApiHarness, type CallOptions, type Session, VIEWER } from './api-harness.js';

type Who = 'anonymous' | 'viewer' | 'admin';
interface Row {
  op: string;
  method: string;
  path: string;
  body?: unknown;
  csv?: string;
  /** Needs its own session (the call ends or changes it). */
  fresh?: boolean;
  stream?: boolean;
  /** Expected status per caller. */
  expect: Record<Who, number>;
}

describe('api authorisation', () => {
  let h: ApiHarness;
  const sessions: Partial<Record<Who, Session>> = {};
  const ids = { proxy: 0, spareProxy: 0, mapping: 0, spareMapping: 0, victor: 0, spareUser: 0 };

  before(async () => {
    h = await ApiHarness.start();
    ids.proxy = await h.seedProxy('main');
    ids.spareProxy = await h.seedProxy('spare');
    ids.mapping = await h.seedMapping(ids.proxy, '192.168.2.10', 20000);
    ids.spareMapping = await h.seedMapping(ids.proxy, '192.168.2.11', 20001);
    ids.victor = (await h.db.selectFrom('users').select('id').where('username', '=', VIEWER.username).executeTakeFirstOrThrow()).id;
    ids.spareUser = (await h.db.insertInto('users').values({ username: 'spare', passwordHash: 'x', role: 'viewer' }).returning('id').executeTakeFirstOrThrow()).id;
    sessions.viewer = await h.login(VIEWER);
    sessions.admin = await h.login(ADMIN);
  });
  after(async () => {
    await h?.stop();
  });

  const user = (ok: number) => ({ anonymous: 401, viewer: ok, admin: ok });
  const adminOnly = (ok: number) => ({ anonymous: 401, viewer: 403, admin: ok });
  const open = (ok: number) => ({ anonymous: ok, viewer: ok, admin: ok });
  const settingsBody = async () => (await h.call('GET', '/api/v1/settings', { auth: { bearer: sessions.admin!.token } })).body;

  const rows = (): Row[] => [
    { op: 'healthz', method: 'GET', path: '/healthz', expect: open(200) },
    { op: 'readyz', method: 'GET', path: '/readyz', expect: open(200) },
    { op: 'login', method: 'POST', path: '/api/v1/auth/login', body: { username: 'x' }, expect: open(400) },
    { op: 'logout', method: 'POST', path: '/api/v1/auth/logout', fresh: true, expect: user(204) },
    { op: 'getMe', method: 'GET', path: '/api/v1/auth/me', expect: user(200) },
    { op: 'getCsrfToken', method: 'GET', path: '/api/v1/auth/csrf', expect: user(200) },
    { op: 'changePassword', method: 'POST', path: '/api/v1/auth/password', body: { currentPassword: 'not-my-password', newPassword: 'a-new-password-1' }, expect: user(422) },
    { op: 'listUsers', method: 'GET', path: '/api/v1/users', expect: adminOnly(200) },
    { op: 'createUser', method: 'POST', path: '/api/v1/users', body: { username: 'newbie', password: 'newbie-password-1', role: 'viewer', currentPassword: ADMIN.password }, expect: adminOnly(201) },
    { op: 'getUser', method: 'GET', path: `/api/v1/users/${ids.victor}`, expect: adminOnly(200) },
    { op: 'updateUser', method: 'PATCH', path: `/api/v1/users/${ids.spareUser}`, body: { role: 'viewer' }, expect: adminOnly(200) },
    { op: 'deleteUser', method: 'DELETE', path: `/api/v1/users/${ids.spareUser}`, expect: adminOnly(204) },
    { op: 'listProxies', method: 'GET', path: '/api/v1/proxies', expect: user(200) },
    { op: 'createProxy', method: 'POST', path: '/api/v1/proxies', body: { name: 'new', url: 'http://198.51.100.20:3128' }, expect: adminOnly(201) },
    { op: 'getProxy', method: 'GET', path: `/api/v1/proxies/${ids.proxy}`, expect: user(200) },
    { op: 'updateProxy', method: 'PATCH', path: `/api/v1/proxies/${ids.proxy}`, body: { name: 'main-renamed' }, expect: adminOnly(200) },
    { op: 'deleteProxy', method: 'DELETE', path: `/api/v1/proxies/${ids.spareProxy}`, expect: adminOnly(204) },
    { op: 'checkProxy', method: 'POST', path: '/api/v1/proxies/999/check', expect: adminOnly(404) },
    { op: 'listProxyChecks', method: 'GET', path: `/api/v1/proxies/${ids.proxy}/checks`, expect: user(200) },
    { op: 'listProxyExitIps', method: 'GET', path: `/api/v1/proxies/${ids.proxy}/exit-ips`, expect: user(200) },
    { op: 'listMappings', method: 'GET', path: '/api/v1/mappings', expect: user(200) },
    { op: 'createMapping', method: 'POST', path: '/api/v1/mappings', body: { clientIp: '10.0.0.1', proxyId: ids.proxy }, expect: adminOnly(400) },
    { op: 'getMapping', method: 'GET', path: `/api/v1/mappings/${ids.mapping}`, expect: user(200) },
    { op: 'updateMapping', method: 'PATCH', path: `/api/v1/mappings/${ids.mapping}`, body: { description: 'edited' }, expect: adminOnly(200) },
    { op: 'deleteMapping', method: 'DELETE', path: `/api/v1/mappings/${ids.spareMapping}`, expect: adminOnly(204) },
    { op: 'enableMapping', method: 'POST', path: '/api/v1/mappings/999/enable', expect: adminOnly(404) },
    { op: 'disableMapping', method: 'POST', path: `/api/v1/mappings/${ids.mapping}/disable`, expect: adminOnly(200) },
    { op: 'resetMappingQuota', method: 'POST', path: `/api/v1/mappings/${ids.mapping}/quota-reset`, expect: adminOnly(409) },
    { op: 'getMappingUsage', method: 'GET', path: `/api/v1/mappings/${ids.mapping}/usage`, expect: user(200) },
    { op: 'getTopTalkers', method: 'GET', path: '/api/v1/usage/top', expect: user(200) },
    { op: 'exportMappings', method: 'GET', path: '/api/v1/mappings/export', expect: user(200) },
    { op: 'importMappings', method: 'POST', path: '/api/v1/mappings/import', csv: 'client_ip,proxy_name\n10.0.0.1,main\n', expect: adminOnly(400) },
    { op: 'previewMappingsImport', method: 'POST', path: '/api/v1/mappings/import/preview', csv: 'client_ip,proxy_name\n10.0.0.1,main\n', expect: adminOnly(200) },
    { op: 'bulkMappings', method: 'POST', path: '/api/v1/mappings/bulk', body: { ids: [999], action: 'disable' }, expect: adminOnly(404) },
    { op: 'listDevices', method: 'GET', path: '/api/v1/devices?unmapped=true', expect: user(200) },
    { op: 'getSettings', method: 'GET', path: '/api/v1/settings', expect: user(200) },
    { op: 'putSettings', method: 'PUT', path: '/api/v1/settings', body: 'SETTINGS', expect: adminOnly(200) },
    { op: 'getStatus', method: 'GET', path: '/api/v1/status', expect: user(200) },
    { op: 'listNodes', method: 'GET', path: '/api/v1/nodes', expect: user(200) },
    { op: 'listAudit', method: 'GET', path: '/api/v1/audit', expect: user(200) },
    { op: 'exportAudit', method: 'GET', path: '/api/v1/audit/export?action=update', expect: user(200) },
    { op: 'streamEvents', method: 'GET', path: '/api/v1/events', stream: true, expect: user(200) },
  ];

  it('the matrix covers every operation in API_SPEC.yaml and agrees with the access rules', () => {
    const covered = rows().map((r) => r.op).sort();
    assert.deepEqual(covered, h.contract.operations().sort());
    for (const row of rows()) {
      const rule = ACCESS[row.op];
      const expected = row.expect.viewer === 403 ? 'admin' : row.expect.anonymous === 401 ? 'user' : 'public';
      assert.equal(rule, expected, `${row.op}: access rule`);
    }
  });

  for (const who of ['anonymous', 'viewer', 'admin'] as const) {
    it(`${who} gets the expected status from every operation`, async () => {
      const settings = await settingsBody();
      const failures: string[] = [];
      for (const row of rows()) {
        const session = who === 'anonymous' ? undefined : row.fresh ? await h.login(who === 'admin' ? ADMIN : VIEWER) : sessions[who]!;
        const auth = session ? { bearer: session.token } : undefined;
        let status: number;
        if (row.stream) {
          const abort = new AbortController();
          const res = await fetch(`${h.url}${row.path}`, { headers: session ? { cookie: session.cookie } : {}, signal: abort.signal });
          status = res.status;
          const body = res.headers.get('content-type')?.startsWith('application/json') ? await res.json() : undefined;
          h.contract.check(row.method, row.path, status, res.headers.get('content-type'), body);
          abort.abort();
        } else {
          const body = row.body === 'SETTINGS' ? settings : row.body;
          status = (await h.call(row.method, row.path, { ...(auth ? { auth } : {}), ...(body !== undefined ? { body } : {}), ...(row.csv ? { csv: row.csv } : {}) })).status;
        }
        if (status !== row.expect[who]) failures.push(`${row.op}: ${status}, expected ${row.expect[who]}`);
      }
      assert.deepEqual(failures, []);
    });
  }

  it('a second console tab (its own GET /auth/csrf) leaves the first tab\'s CSRF token working, and its logout revokes the session', async () => {
    const session = await h.login(ADMIN);
    // The browser's one cookie jar: what a response sets replaces what it held.
    const jar = new Map(session.cookie.split('; ').map((c) => [c.slice(0, c.indexOf('=')), c] as const));
    const tabB = await h.call('GET', '/api/v1/auth/csrf', { auth: { session, csrf: false } });
    assert.equal(tabB.status, 200);
    for (const c of tabB.headers.getSetCookie()) jar.set(c.slice(0, c.indexOf('=')), c.split(';')[0]!);
    const shared = { ...session, cookie: [...jar.values()].join('; ') };
    // Tab A still holds the token it got at login.
    const created = await h.call('POST', '/api/v1/proxies', { auth: { session: shared }, body: { name: 'two-tabs', url: 'http://198.51.100.31:3128' } });
    assert.equal(created.status, 201, `tab A's change after tab B opened: ${created.text}`);
    assert.equal(tabB.body.csrfToken, session.csrfToken, 'both tabs hold the session\'s one token');
    assert.equal((await h.call('POST', '/api/v1/auth/logout', { auth: { session: shared } })).status, 204);
    assert.equal((await h.call('GET', '/api/v1/auth/me', { auth: { bearer: session.token } })).status, 401, 'the session is revoked');
  });

  it('cookie sessions need the CSRF token on state-changing requests; bearer tokens do not', async () => {
    const session = await h.login(ADMIN);
    const other = await h.login(ADMIN);
    const audits = await h.auditCount();
    const create = (name: string, auth: CallOptions['auth']) => h.call('POST', '/api/v1/proxies', { auth, body: { name, url: 'http://198.51.100.30:3128' } });
    const missing = await create('csrf-1', { session, csrf: false });
    assert.deepEqual([missing.status, missing.body.error.code], [403, 'csrf_invalid']);
    assert.equal((await create('csrf-2', { session, csrf: 'forged-token' })).status, 403);
    assert.equal((await create('csrf-3', { session, csrf: other.csrfToken })).status, 403, "another session's token");
    assert.equal(await h.auditCount(), audits, 'refused requests changed nothing');
    assert.equal((await h.db.selectFrom('proxies').select('id').where('name', 'like', 'csrf-%').execute()).length, 0);
    assert.equal((await h.call('GET', '/api/v1/proxies', { auth: { session, csrf: false } })).status, 200, 'reads need no token');
    assert.equal((await create('csrf-4', { session })).status, 201);
    assert.equal((await create('csrf-5', { bearer: session.token })).status, 201);
    const cookies = session.cookie;
    assert.match(cookies, /pgw_session=/);
    const login = await h.call('POST', '/api/v1/auth/login', { body: ADMIN });
    const setCookie = login.headers.getSetCookie().find((c) => c.startsWith('pgw_session='))!;
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Strict/i);
    // A browser-session cookie: closing the browser ends the console's session on a shared machine
    // (the token's own expiry still bounds it at the server). With Expires it outlived the browser.
    assert.doesNotMatch(setCookie, /Expires=|Max-Age=/i, setCookie);
  });

  it('refuses an anonymous request to a non-public operation before reading its body: 401, not what the body would get', async () => {
    // Parsed and validated before the login check, a 2 MB CSV or a malformed JSON body cost the api
    // its work for nobody and told an anonymous caller which bodies would be valid (400/413/415).
    const csv = `client_ip,proxy,listen_port\n${'x,'.repeat(1_100_000)}`;
    for (const [path, options] of [
      ['/api/v1/mappings/import', { csv }],
      ['/api/v1/mappings/import', { headers: { 'content-type': 'application/xml' }, raw: '<a/>' }],
      ['/api/v1/proxies', { headers: { 'content-type': 'application/json' }, raw: '{"name": ' }],
      ['/api/v1/proxies', { body: { name: 7 } }],
    ] as const) {
      const res = await h.call('POST', path, options as CallOptions);
      assert.equal(res.status, 401, `${path} ${JSON.stringify(options).slice(0, 60)}: ${JSON.stringify(res.body).slice(0, 200)}`);
    }
  });

  it('never accepts a token in the URL', async () => {
    const res = await fetch(`${h.url}/api/v1/mappings?token=${sessions.viewer!.token}`);
    assert.notEqual(res.status, 200);
    const sse = await fetch(`${h.url}/api/v1/events?access_token=${sessions.viewer!.token}`);
    assert.notEqual(sse.status, 200);
  });

  it('throttles repeated failed logins per username', async () => {
    const attempt = () => h.call('POST', '/api/v1/auth/login', { body: { username: 'mallory', password: 'guess-guess-1' } });
    for (let i = 0; i < 5; i++) assert.equal((await attempt()).status, 401);
    const throttled = await attempt();
    assert.equal(throttled.status, 429);
    assert.ok(Number(throttled.headers.get('retry-after')) > 0);
    assert.equal((await h.call('POST', '/api/v1/auth/login', { body: VIEWER })).status, 200, 'other users are not locked out');
  });
});

describe('api docs and console', () => {
  it('serves the spec and an interactive viewer at /api/docs, and the console with an SPA fallback', async () => {
    // A stand-in build of the console: the real one is built by the ui workspace and not in git.
    const uiDir = mkdtempSync(join(tmpdir(), 'pgw-ui-'));
    writeFileSync(join(uiDir, 'index.html'), '<!doctype html><div id="app"></div>');
    const h = await ApiHarness.start({ PGW_UI_DIR: uiDir });
    try {
      for (const path of ['/api/docs', '/api/docs/']) {
        const page = await fetch(`${h.url}${path}`, { redirect: 'manual' });
        assert.equal(page.status, 200, path);
        assert.match(await page.text(), /swagger-ui-bundle\.js/);
      }
      const spec = await fetch(`${h.url}/api/docs/openapi.yaml`);
      assert.match(await spec.text(), /^openapi: 3\.1\.0/);
      assert.equal((await fetch(`${h.url}/api/docs/swagger-ui-bundle.js`)).status, 200);
      const deepLink = await fetch(`${h.url}/mappings`, { headers: { accept: 'text/html' } });
      assert.equal(deepLink.status, 200);
      assert.equal(await deepLink.text(), '<!doctype html><div id="app"></div>');
      const unknownApi = await fetch(`${h.url}/api/v1/nope`, { headers: { accept: 'text/html' } });
      assert.equal(unknownApi.status, 404, 'API paths never fall back to the console');
      // After an upgrade: the page is asked for again (its hashed assets changed), and an asset of
      // the previous build is missing, not the page in its place (a module script that is HTML left
      // the console blank until the cached page expired).
      for (const path of ['/', '/index.html', '/mappings']) assert.equal((await fetch(`${h.url}${path}`)).headers.get('cache-control'), 'no-cache', path);
      const oldAsset = await fetch(`${h.url}/assets/index-0ld0ld.js`, { headers: { accept: '*/*' } });
      assert.equal(oldAsset.status, 404, 'a missing asset is not the page');
      mkdirSync(join(uiDir, 'assets'));
      writeFileSync(join(uiDir, 'assets', 'index-n3w.js'), 'export {};');
      assert.match((await fetch(`${h.url}/assets/index-n3w.js`)).headers.get('cache-control') ?? '', /max-age=31536000, immutable/, 'hashed assets never change');
    } finally {
      await h.stop();
      rmSync(uiDir, { recursive: true, force: true });
    }
  });
});
