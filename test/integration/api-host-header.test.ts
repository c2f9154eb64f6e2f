// DNS rebinding (docs/SECURITY.md): a page on a name its attacker controls, re-pointed at the api's
// address, talks to the api as a same-origin page of that name. The api answers only to IP
// addresses, localhost and the names in PGW_API_HOSTNAMES, so such a page gets 421 before any
// operation runs: no login (whose failures would lock the victim's address out), no session, no
// console. Raw HTTP: fetch() does not let a caller set Host. Real Postgres and Redis.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness } from './api-harness.js';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** `target`: a request-target other than the path (absolute form), written as is. */
function rawCall(url: string, path: string, headers: Record<string, string>, body?: string, target?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: body === undefined ? 'GET' : 'POST', ...(target === undefined ? {} : { path: target }), headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const login = JSON.stringify(ADMIN);

describe('api: the Host header (DNS rebinding)', () => {
  let h: ApiHarness;
  before(async () => {
    h = await ApiHarness.start({ PGW_API_HOSTNAMES: ['console.example.net'], PGW_TRUST_PROXY: 'loopback' });
  });
  after(async () => {
    await h?.stop();
  });

  it('a name it was not given gets 421 naming PGW_API_HOSTNAMES, before any operation: no login, no session cookie, no audit row', async () => {
    const port = new URL(h.url).port;
    const auditBefore = await h.auditCount();
    for (const host of [`rebind.attacker.example:${port}`, 'rebind.attacker.example', 'console.example.net.attacker.example', 'localhost.attacker.example']) {
      const res = await rawCall(h.url, '/api/v1/auth/login', { host }, login);
      assert.equal(res.status, 421, `${host}: ${res.status} ${res.body}`);
      assert.equal(res.headers['set-cookie'], undefined, `${host}: no cookie`);
      const error = JSON.parse(res.body).error;
      assert.equal(error.code, 'host_not_allowed');
      assert.match(error.message, /PGW_API_HOSTNAMES/);
    }
    for (const path of ['/healthz', '/', '/api/v1/openapi.yaml']) {
      assert.equal((await rawCall(h.url, path, { host: 'rebind.attacker.example' })).status, 421, path);
    }
    assert.equal(await h.auditCount(), auditBefore, 'no login attempt was recorded');
  });

  it('IP addresses, localhost and the names given are served, case and a trailing dot aside', async () => {
    const port = new URL(h.url).port;
    for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `[::1]:${port}`, `localhost:${port}`, 'LOCALHOST.', 'console.example.net', `Console.Example.Net.:${port}`, '192.168.2.1:8080']) {
      const res = await rawCall(h.url, '/api/v1/auth/login', { host }, login);
      assert.equal(res.status, 200, `${host}: ${res.status} ${res.body}`);
    }
  });

  it('every host a request names is judged: Host, each X-Forwarded-Host entry (trusted peer or not), an absolute-form target', async () => {
    // The rebinding page adds X-Forwarded-Host itself (no preflight for a same-origin request); an
    // SSH tunnel arrives from loopback, which PGW_TRUST_PROXY=loopback trusts (failed before: 200).
    for (const headers of [
      { host: 'rebind.attacker.example', 'x-forwarded-host': '127.0.0.1' },
      { host: '127.0.0.1', 'x-forwarded-host': 'rebind.attacker.example' },
      { host: '127.0.0.1', 'x-forwarded-host': 'console.example.net, rebind.attacker.example' },
    ]) {
      const refused = await rawCall(h.url, '/healthz', headers);
      assert.equal(refused.status, 421, `${JSON.stringify(headers)}: ${refused.body}`);
    }
    const served = await rawCall(h.url, '/healthz', { host: '127.0.0.1', 'x-forwarded-host': 'console.example.net' });
    assert.equal(served.status, 200, served.body);
    const absolute = await rawCall(h.url.replace(/\/$/, ''), '', { host: '127.0.0.1' }, undefined, 'http://rebind.attacker.example/healthz');
    assert.equal(absolute.status, 421, absolute.body);
  });
});
