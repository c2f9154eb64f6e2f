// HTTPS served by the api itself (PGW_TLS_CERT_FILE/KEY_FILE, a self-signed certificate made by
// openssl for this test) and PGW_TRUST_PROXY: X-Forwarded-For sets the audited source IP only when
// the peer is a trusted proxy. Real Postgres and Redis.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness } from './api-harness.js';

interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** fetch cannot be given a CA for one call: node:https can. */
function httpsCall(url: string, ca: Buffer, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, ca, servername: 'localhost' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('api over HTTPS', () => {
  let dir: string;
  let h: ApiHarness;
  let ca: Buffer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgw-api-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
    ], { stdio: 'pipe' });
    ca = readFileSync(cert);
    h = await ApiHarness.start({ PGW_TLS_CERT_FILE: cert, PGW_TLS_KEY_FILE: key });
  });
  after(async () => {
    await h?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API over TLS with the given certificate', async () => {
    assert.match(h.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await httpsCall(`${h.url}/healthz`, ca);
    h.contract.check('GET', '/healthz', health.status, String(health.headers['content-type']), JSON.parse(health.body));
    assert.deepEqual([health.status, JSON.parse(health.body)], [200, { status: 'ok' }]);
  });

  it('marks session cookies Secure, and the session works over TLS', async () => {
    const login = await httpsCall(`${h.url}/api/v1/auth/login`, ca, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
    assert.equal(login.status, 200, login.body);
    h.contract.check('POST', '/api/v1/auth/login', login.status, String(login.headers['content-type']), JSON.parse(login.body));
    const cookies = [login.headers['set-cookie'] ?? []].flat();
    assert.ok(cookies.length >= 2, 'session and CSRF cookies');
    for (const cookie of cookies) assert.match(cookie, /; Secure/i, cookie.split('=')[0]);
    const me = await httpsCall(`${h.url}/api/v1/auth/me`, ca, { headers: { cookie: cookies.map((c) => c.split(';')[0]).join('; ') } });
    assert.deepEqual([me.status, JSON.parse(me.body).username], [200, ADMIN.username]);
  });

  it('refuses a client that does not trust the certificate, and plain HTTP', async () => {
    await assert.rejects(httpsCall(`${h.url}/healthz`, Buffer.from('')), /self[- ]signed|unable to verify|certificate/i);
    await assert.rejects(fetch(`${h.url.replace('https:', 'http:')}/healthz`));
  });
});

describe('api behind a reverse proxy (PGW_TRUST_PROXY)', () => {
  /** The source IP the audit log records for one mutation sent with X-Forwarded-For. */
  async function auditedSourceIp(h: ApiHarness, forwardedFor: string): Promise<string | null> {
    const admin = await h.login(ADMIN);
    const created = await h.call('POST', '/api/v1/proxies', {
      auth: { bearer: admin.token },
      body: { name: `via-${forwardedFor}`, url: 'http://198.51.100.30:3128' },
      headers: { 'x-forwarded-for': forwardedFor },
    });
    assert.equal(created.status, 201, created.text);
    const row = await h.db.selectFrom('auditLog').select('sourceIp').where('entityType', '=', 'proxy').where('entityId', '=', String(created.body.id)).executeTakeFirstOrThrow();
    return row.sourceIp;
  }

  it('uses X-Forwarded-For for the audit source IP when the peer is the trusted proxy', async () => {
    const h = await ApiHarness.start({ PGW_TRUST_PROXY: '127.0.0.1' });
    try {
      assert.equal(await auditedSourceIp(h, '203.0.113.77'), '203.0.113.77');
      // A client cannot spoof past the proxy: the proxy appends the address it saw, the api takes the last untrusted one.
      assert.equal(await auditedSourceIp(h, '10.6.6.6, 203.0.113.78'), '203.0.113.78');
    } finally {
      await h.stop();
    }
  });

  /** The Set-Cookie lines of a login sent with these headers. */
  async function loginCookies(h: ApiHarness, headers: Record<string, string>): Promise<string[]> {
    const res = await h.call('POST', '/api/v1/auth/login', { body: ADMIN, headers });
    assert.equal(res.status, 200, res.text);
    const cookies = res.headers.getSetCookie();
    assert.ok(cookies.length >= 2, 'session and CSRF cookies');
    return cookies;
  }

  it('marks session cookies Secure when a trusted TLS-terminating proxy says the client used HTTPS', async () => {
    const h = await ApiHarness.start({ PGW_TRUST_PROXY: '127.0.0.1' });
    try {
      for (const cookie of await loginCookies(h, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.80' })) assert.match(cookie, /; Secure/i, cookie.split('=')[0]);
      const session = await h.login(ADMIN);
      const csrf = await h.call('GET', '/api/v1/auth/csrf', { auth: { session }, headers: { 'x-forwarded-proto': 'https' } });
      for (const cookie of csrf.headers.getSetCookie()) assert.match(cookie, /; Secure/i, `refreshed ${cookie.split('=')[0]}`);
      const logout = await h.call('POST', '/api/v1/auth/logout', { auth: { session }, headers: { 'x-forwarded-proto': 'https' } });
      assert.equal(logout.status, 204);
      for (const cookie of logout.headers.getSetCookie()) assert.match(cookie, /; Secure/i, `cleared ${cookie.split('=')[0]}`);
      for (const cookie of await loginCookies(h, { 'x-forwarded-proto': 'http' })) assert.doesNotMatch(cookie, /; Secure/i, 'plain HTTP at the proxy');
    } finally {
      await h.stop();
    }
  });

  it('does not take X-Forwarded-Proto from a peer that is not the trusted proxy', async () => {
    const h = await ApiHarness.start({ PGW_TRUST_PROXY: '10.9.9.9' });
    try {
      for (const cookie of await loginCookies(h, { 'x-forwarded-proto': 'https' })) assert.doesNotMatch(cookie, /; Secure/i, cookie.split('=')[0]);
    } finally {
      await h.stop();
    }
  });

  it('ignores X-Forwarded-For when no proxy is trusted, or the peer is not the trusted one', async () => {
    for (const trust of [false, '10.9.9.9'] as const) {
      const h = await ApiHarness.start({ PGW_TRUST_PROXY: trust });
      try {
        assert.equal(await auditedSourceIp(h, '203.0.113.77'), '127.0.0.1', `PGW_TRUST_PROXY=${trust}`);
      } finally {
        await h.stop();
      }
    }
  });

  it('a forwarded address that is no IP (a proxy passing a client\'s header on) is not taken: the peer is audited, and a login works', async () => {
    // Before: req.ip was "foo", the audit insert (source_ip inet) failed, and the login answered 500
    // with a working session cookie set and no login row in the audit log.
    const h = await ApiHarness.start({ PGW_TRUST_PROXY: '127.0.0.1' });
    try {
      const login = await h.call('POST', '/api/v1/auth/login', { body: ADMIN, headers: { 'x-forwarded-for': 'foo' } });
      assert.equal(login.status, 200, login.text);
      const row = await h.db.selectFrom('auditLog').select('sourceIp').where('action', '=', 'login').orderBy('id', 'desc').executeTakeFirstOrThrow();
      assert.equal(row.sourceIp, '127.0.0.1');
      assert.equal(await auditedSourceIp(h, 'not-an-address'), '127.0.0.1');
    } finally {
      await h.stop();
    }
  });
});

describe('api: a body it cannot read', () => {
  it('is refused naming why (a br body that does not decompress: 400; an unknown charset or encoding: 415), not a 500 with a stack trace in the log', async () => {
    const h = await ApiHarness.start();
    try {
      const login = await fetch(`${h.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, body: JSON.stringify(ADMIN) });
      assert.equal(login.status, 400, await login.text());
      const encoding = await fetch(`${h.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'x-nope' }, body: JSON.stringify(ADMIN) });
      assert.equal(encoding.status, 415, await encoding.text());
      const charset = await fetch(`${h.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json; charset=foo' }, body: JSON.stringify(ADMIN) });
      const text = await charset.text();
      assert.equal(charset.status, 415, text);
      assert.match((JSON.parse(text) as { error: { message: string } }).error.message, /charset/);
    } finally {
      await h.stop();
    }
  });
});
