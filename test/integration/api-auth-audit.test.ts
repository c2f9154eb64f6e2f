// Authentication events are audit rows with the client's source address and User-Agent (issue 10,
// point 8): logins and failed logins, logouts (a token revoked), password changes (every token of
// the user revoked) and failed ones. The api runs behind a trusted proxy here, so the recorded
// address is the one X-Forwarded-For names. Real Postgres and Redis; rows read back through
// GET /api/v1/audit (checked against API_SPEC.yaml) and straight from the table.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness, VIEWER } from './api-harness.js';

const CLIENT = { 'x-forwarded-for': '203.0.113.90', 'user-agent': 'pgw-audit-test/1.0 (curl-like)' };

describe('audit of authentication events', () => {
  let h: ApiHarness;

  before(async () => {
    h = await ApiHarness.start({ PGW_TRUST_PROXY: '127.0.0.1' });
  });
  after(async () => h?.stop());

  /** Audit rows written since `sinceId`, oldest first. */
  async function rowsSince(sinceId: string) {
    return h.db.selectFrom('auditLog').selectAll().where('id', '>', sinceId).orderBy('id').execute();
  }
  async function lastId(): Promise<string> {
    const row = await h.db.selectFrom('auditLog').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
    return String(row?.id ?? '0');
  }
  const adminId = async () => (await h.db.selectFrom('users').select('id').where('username', '=', ADMIN.username).executeTakeFirstOrThrow()).id;

  it('records a failed login with address and User-Agent, naming only a user that exists', async () => {
    const since = await lastId();
    assert.equal((await h.call('POST', '/api/v1/auth/login', { body: { ...ADMIN, password: 'not-the-password' }, headers: CLIENT })).status, 401);
    // An unknown "username" may be a password typed into the wrong field: it is not stored.
    assert.equal((await h.call('POST', '/api/v1/auth/login', { body: { username: 'Secret-Typed-In-Wrong-Field', password: 'x' }, headers: CLIENT })).status, 401);
    const rows = await rowsSince(since);
    assert.deepEqual(
      rows.map((r) => ({ action: r.action, entityType: r.entityType, entityId: r.entityId, actor: r.actorUsername, ip: r.sourceIp, ua: r.userAgent, after: r.after })),
      [
        { action: 'login_failed', entityType: 'user', entityId: String(await adminId()), actor: null, ip: '203.0.113.90', ua: CLIENT['user-agent'], after: { username: ADMIN.username } },
        { action: 'login_failed', entityType: 'user', entityId: null, actor: null, ip: '203.0.113.90', ua: CLIENT['user-agent'], after: null },
      ],
    );
    assert.doesNotMatch(JSON.stringify(rows), /Secret-Typed-In-Wrong-Field/);
  });

  it('records a login and its logout (the token revoked) under the same session id', async () => {
    const since = await lastId();
    const login = await h.call('POST', '/api/v1/auth/login', { body: VIEWER, headers: CLIENT });
    assert.equal(login.status, 200, login.text);
    const session = { token: login.body.token, csrfToken: login.body.csrfToken, cookie: login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') };
    assert.equal((await h.call('POST', '/api/v1/auth/logout', { auth: { session }, headers: { ...CLIENT, 'x-forwarded-for': '203.0.113.91' } })).status, 204);
    const rows = await rowsSince(since);
    assert.deepEqual(rows.map((r) => [r.action, r.entityType, r.actorUsername, r.sourceIp, r.userAgent]), [
      ['login', 'session', VIEWER.username, '203.0.113.90', CLIENT['user-agent']],
      ['logout', 'session', VIEWER.username, '203.0.113.91', CLIENT['user-agent']],
    ]);
    assert.ok(rows[0]!.entityId, 'the session id (jti) is recorded');
    assert.equal(rows[1]!.entityId, rows[0]!.entityId, 'the logout names the session it revoked');
    const revoked = await h.db.selectFrom('revokedTokens').select('jti').where('jti', '=', rows[1]!.entityId!).executeTakeFirst();
    assert.ok(revoked, 'and that token is in revoked_tokens');
  });

  it('records password changes, failed and done, with address and User-Agent', async () => {
    const admin = await h.login(ADMIN);
    const since = await lastId();
    const wrong = await h.call('POST', '/api/v1/auth/password', { auth: { session: admin }, body: { currentPassword: 'not-my-password', newPassword: 'a-brand-new-password-1' }, headers: CLIENT });
    assert.equal(wrong.status, 422);
    const changed = await h.call('POST', '/api/v1/auth/password', { auth: { session: admin }, body: { currentPassword: ADMIN.password, newPassword: 'a-brand-new-password-1' }, headers: CLIENT });
    assert.equal(changed.status, 200, changed.text);
    const rows = await rowsSince(since);
    assert.deepEqual(rows.map((r) => [r.action, r.entityId, r.actorUsername, r.sourceIp, r.userAgent, r.after]), [
      ['password_change_failed', String(await adminId()), ADMIN.username, '203.0.113.90', CLIENT['user-agent'], null],
      ['password_change', String(await adminId()), ADMIN.username, '203.0.113.90', CLIENT['user-agent'], { sessionsRevoked: 'all' }],
    ]);
    assert.equal((await h.call('GET', '/api/v1/auth/me', { auth: { bearer: admin.token } })).status, 401, 'the old token is revoked');
    // Put the password back for the other tests of this file.
    const fresh = { token: changed.body.token, csrfToken: changed.body.csrfToken, cookie: changed.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') };
    assert.equal((await h.call('POST', '/api/v1/auth/password', { auth: { session: fresh }, body: { currentPassword: 'a-brand-new-password-1', newPassword: ADMIN.password } })).status, 200);
  });

  it('serves the new fields through GET /api/v1/audit', async () => {
    const admin = await h.login(ADMIN);
    const page = await h.call('GET', '/api/v1/audit?action=login_failed&limit=5', { auth: { bearer: admin.token } });
    assert.equal(page.status, 200, page.text);
    assert.ok(page.body.items.length >= 2);
    for (const item of page.body.items) assert.deepEqual([item.sourceIp, item.userAgent], ['203.0.113.90', CLIENT['user-agent']]);
  });

  it("keeps the entries about users and sessions from a viewer (API_SPEC: a viewer reads everything except users)", async () => {
    // Logins, failed logins and user changes name usernames, roles and the admins' addresses and browsers.
    const admin = await h.login(ADMIN);
    const viewer = await h.login(VIEWER);
    const types = async (bearer: string, query: string) => {
      const page = await h.call('GET', `/api/v1/audit?${query}`, { auth: { bearer } });
      assert.equal(page.status, 200, page.text);
      return new Set((page.body.items as { entityType: string }[]).map((item) => item.entityType));
    };
    const all = await types(admin.token, 'limit=1000');
    assert.ok(all.has('user') && all.has('session'), `the admin reads them: ${[...all].join(', ')}`);
    for (const query of ['limit=1000', 'entityType=user', 'entityType=session', 'action=login_failed', `q=${encodeURIComponent('203.0.113.90')}`]) {
      const seen = await types(viewer.token, query);
      assert.ok(!seen.has('user') && !seen.has('session'), `a viewer read ${[...seen].join(', ')} with ${query}`);
    }
    const csv = await h.call('GET', '/api/v1/audit/export', { auth: { bearer: viewer.token } });
    assert.equal(csv.status, 200, csv.text);
    assert.doesNotMatch(csv.text, /,(user|session),/, 'nor in the export');
    assert.doesNotMatch(csv.text, /login_failed|pgw-audit-test/);
  });

  it("keeps the admins' addresses and browsers from a viewer on every row, not only on sessions' (review: a proxy's row named them)", async () => {
    const admin = await h.login(ADMIN);
    const viewer = await h.login(VIEWER);
    const made = await h.call('POST', '/api/v1/proxies', { auth: { session: admin }, body: { name: 'seen-by-viewer', protocol: 'socks5', host: '198.51.100.20', port: 1080 }, headers: CLIENT });
    assert.equal(made.status, 201, made.text);
    const entityId = String((made.body as { id: number }).id);
    const adminPage = await h.call('GET', `/api/v1/audit?entityType=proxy&entityId=${entityId}`, { auth: { bearer: admin.token } });
    assert.deepEqual(adminPage.body.items.map((i: { sourceIp: string; userAgent: string }) => [i.sourceIp, i.userAgent]), [['203.0.113.90', CLIENT['user-agent']]], 'the admin reads them');
    const page = await h.call('GET', `/api/v1/audit?entityType=proxy&entityId=${entityId}`, { auth: { bearer: viewer.token } });
    assert.equal(page.status, 200, page.text);
    assert.deepEqual(page.body.items.map((i: { actorUsername: string; sourceIp: string; userAgent: string }) => [i.actorUsername, i.sourceIp, i.userAgent]), [[ADMIN.username, null, null]]);
    for (const q of ['203.0.113.90', 'pgw-audit-test']) {
      const found = await h.call('GET', `/api/v1/audit?entityType=proxy&q=${encodeURIComponent(q)}`, { auth: { bearer: viewer.token } });
      assert.deepEqual([found.status, found.body.items.length], [200, 0], `a viewer's search for ${q} matched on what it may not read`);
    }
    const bySource = await h.call('GET', '/api/v1/audit?sourceIp=203.0.113.90', { auth: { bearer: viewer.token } });
    assert.deepEqual([bySource.status, bySource.body.error?.field], [400, 'sourceIp'], bySource.text);
    const csv = await h.call('GET', '/api/v1/audit/export?entityType=proxy', { auth: { bearer: viewer.token } });
    assert.equal(csv.status, 200, csv.text);
    assert.doesNotMatch(csv.text, /203\.0\.113\.90|pgw-audit-test/, 'nor in the export');
  });

  it('does not write a row for a throttled attempt (no password checked, nothing to record but a counter)', async () => {
    const attempt = () => h.call('POST', '/api/v1/auth/login', { body: { username: 'mallory', password: 'guess-guess-1' }, headers: { ...CLIENT, 'x-forwarded-for': '203.0.113.99' } });
    for (let i = 0; i < 5; i++) assert.equal((await attempt()).status, 401);
    const since = await lastId();
    assert.equal((await attempt()).status, 429);
    assert.deepEqual(await rowsSince(since), []);
  });
});
