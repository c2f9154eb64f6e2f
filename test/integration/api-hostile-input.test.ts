// Input the validator's types let through but Postgres or a library cannot take: a NUL character
// in any string (Postgres text refuses it, error 22021), a cursor past its bigint column, a JSON
// cookie (cookie-parser's "j:" values) where a library expects a string. Each used to answer 500
// and log an error with its stack; a NUL in a login's username also made the attempt free: every
// error inside the password queue refunded it to the throttle, so a flood of them, never counted,
// kept the queue full and the operators' own logins answered "busy". Real Postgres and Redis.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_THROTTLE } from '../../services/api/src/auth/login-throttle.js';
import { ADMIN, ApiHarness, VIEWER } from './api-harness.js';

describe('api: hostile input answered 400, and a failing password check stays counted', { timeout: 120_000 }, () => {
  let h: ApiHarness;

  before(async () => {
    h = await ApiHarness.start();
  });
  after(async () => {
    await h?.stop();
  });

  it('refuses a NUL character in any string, naming the field', async () => {
    const admin = await h.login(ADMIN);
    const viewer = await h.login(VIEWER);
    const cases = [
      { what: 'login username', res: await h.call('POST', '/api/v1/auth/login', { body: { username: 'alice\u0000', password: 'x' } }), field: 'username' },
      { what: 'audit search', res: await h.call('GET', '/api/v1/audit?q=%00', { auth: { session: viewer } }), field: 'q' },
      { what: 'audit actor', res: await h.call('GET', '/api/v1/audit?actor=a%00', { auth: { session: viewer } }), field: 'actor' },
      { what: 'mapping search', res: await h.call('GET', '/api/v1/mappings?q=%00', { auth: { session: viewer } }), field: 'q' },
      {
        what: 'proxy name',
        res: await h.call('POST', '/api/v1/proxies', { auth: { session: admin }, body: { name: 'p\u0000', protocol: 'socks5', host: '198.51.100.10', port: 1080 } }),
        field: 'name',
      },
      { what: 'import file', res: await h.call('POST', '/api/v1/mappings/import/preview', { auth: { session: admin }, csv: 'client_ip,proxy_name\n192.168.2.10,m\u0000ain\n' }), field: undefined },
    ];
    for (const { what, res, field } of cases) {
      assert.equal(res.status, 400, `${what}: ${res.text}`);
      assert.equal(res.body.error.code, 'validation_failed', what);
      if (field !== undefined) assert.equal(res.body.error.field, field, `${what}: ${res.text}`);
      assert.match(res.body.error.message, /NUL/, what);
    }
  });

  it('refuses a proxy name with a leading or trailing space or a control character, naming the field, in create and update', async () => {
    // A CSV import looks proxy names up trimmed: "office " beside "office" moved a re-imported
    // client to the other proxy, and a name made of spaces was not re-importable at all.
    const admin = await h.login(ADMIN);
    const made = await h.call('POST', '/api/v1/proxies', { auth: { session: admin }, body: { name: 'office', protocol: 'socks5', host: '198.51.100.11', port: 1080 } });
    assert.equal(made.status, 201, made.text);
    for (const name of ['office ', ' office', ' ', 'off\nice', 'off\tice', 'office\u007f']) {
      const created = await h.call('POST', '/api/v1/proxies', { auth: { session: admin }, body: { name, protocol: 'socks5', host: '198.51.100.12', port: 1080 } });
      assert.deepEqual([created.status, created.body.error?.field], [400, 'name'], `create ${JSON.stringify(name)}: ${created.text}`);
      const renamed = await h.call('PATCH', `/api/v1/proxies/${made.body.id as number}`, { auth: { session: admin }, body: { name } });
      assert.deepEqual([renamed.status, renamed.body.error?.field], [400, 'name'], `update ${JSON.stringify(name)}: ${renamed.text}`);
    }
    const inner = await h.call('POST', '/api/v1/proxies', { auth: { session: admin }, body: { name: 'office 2 · Zürich', protocol: 'socks5', host: '198.51.100.13', port: 1080 } });
    assert.equal(inner.status, 201, `spaces inside and letters beyond ASCII are names: ${inner.text}`);
  });

  it('refuses a checks cursor past the bigint column', async () => {
    const viewer = await h.login(VIEWER);
    const proxyId = await h.seedProxy();
    const res = await h.call('GET', `/api/v1/proxies/${proxyId}/checks?before=9999999999999999999`, { auth: { session: viewer } });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error.field, 'before', res.text);
    const fine = await h.call('GET', `/api/v1/proxies/${proxyId}/checks?before=999999999999999999`, { auth: { session: viewer } });
    assert.equal(fine.status, 200, fine.text);
  });

  it('answers the CSRF token whatever JSON cookie the browser holds', async () => {
    const viewer = await h.login(VIEWER);
    // cookie-parser reads a value that starts with "j:" as JSON: here the number 1, not a string.
    const cookie = `${viewer.cookie.split('; ').filter((c) => !c.startsWith('pgw_csrf=')).join('; ')}; pgw_csrf=j:1`;
    const res = await h.call('GET', '/api/v1/auth/csrf', { headers: { cookie } });
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.body.csrfToken, 'string');
  });

  it('counts a login whose check failed inside the queue (no refund but for a full queue)', async () => {
    // The user lookup fails (the table is away) after the attempt was reserved: an error, not a
    // wrong password. Every such attempt must count against this address like a failure.
    await h.db.schema.alterTable('users').renameTo('users_away').execute();
    try {
      const statuses: number[] = [];
      for (let i = 0; i <= DEFAULT_THROTTLE.perAddress; i++) {
        // Not through h.call: its contract check refuses the 500 this failure answers, as it should.
        const res = await fetch(`${h.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: `nobody${i}`, password: 'x' }) });
        await res.text();
        statuses.push(res.status);
      }
      assert.deepEqual(statuses.slice(0, DEFAULT_THROTTLE.perAddress), new Array(DEFAULT_THROTTLE.perAddress).fill(500));
      assert.equal(statuses.at(-1), 429, `attempt ${DEFAULT_THROTTLE.perAddress + 1} from one address: ${statuses.join(', ')}`);
    } finally {
      await h.db.schema.alterTable('users_away').renameTo('users').execute();
    }
  });
});
