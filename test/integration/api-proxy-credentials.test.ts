// A proxy's stored password belongs to the endpoint it was saved for. An edit that moves the proxy
// (another protocol, host or port) without giving the password again would have the health probe
// and the forwarder send the stored credentials to the new endpoint, in plaintext, although the
// api never returns them: the edit is refused (409 naming `password`), changing nothing. And a
// proxy URL that does not parse is named in the error without its password.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness, type Session } from './api-harness.js';

describe('api: a proxy password stays with its endpoint', () => {
  let h: ApiHarness;
  let admin: Session;
  let id: number;
  const as = (session: Session) => ({ auth: { bearer: session.token } });
  const row = async () => JSON.stringify(await h.db.selectFrom('proxies').selectAll().where('id', '=', id).executeTakeFirstOrThrow());

  before(async () => {
    h = await ApiHarness.start();
    admin = await h.login(ADMIN);
    const created = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'vps', url: 'socks5://alice:s3cret@198.51.100.50:1080' } });
    assert.equal(created.status, 201, created.text);
    id = created.body.id;
  });
  after(async () => {
    await h?.stop();
  });

  it('refuses a move to another host, port or protocol without the password (409 naming password), changing nothing', async () => {
    const before = await row();
    for (const change of [{ host: '203.0.113.66' }, { port: 1081 }, { protocol: 'http' }, { host: '203.0.113.66', username: 'bob' }]) {
      const moved = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(admin), body: change });
      assert.equal(moved.status, 409, `${JSON.stringify(change)}: ${moved.text}`);
      assert.match(JSON.stringify(moved.body.error), /password/);
      assert.equal(await row(), before, JSON.stringify(change));
    }
  });

  it('keeps the password for an edit that names the same endpoint (as the console sends every field)', async () => {
    const same = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(admin), body: { name: 'vps-1', protocol: 'socks5', host: '198.51.100.50', port: 1080, username: 'alice' } });
    assert.equal(same.status, 200, same.text);
    assert.equal(same.body.hasPassword, true);
  });

  it('moves the proxy with the password given again, or with it removed', async () => {
    const withPassword = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(admin), body: { host: '203.0.113.66', password: 'n3w' } });
    assert.equal(withPassword.status, 200, withPassword.text);
    assert.equal(withPassword.body.hasPassword, true);
    const cleared = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(admin), body: { port: 1090, password: null } });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(cleared.body.hasPassword, false);
    const free = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(admin), body: { port: 1091 } });
    assert.equal(free.status, 200, 'no stored password, nothing to refuse');
    const back = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(admin), body: { url: 'socks5://alice:s3cret@198.51.100.50:1080' } });
    assert.equal(back.body.hasPassword, true);
    const byUrl = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(admin), body: { url: 'socks5://alice@203.0.113.66:1080' } });
    assert.equal(byUrl.status, 200, byUrl.text);
    assert.equal(byUrl.body.hasPassword, false, 'a url replaces the whole endpoint: without a password in it, none is kept');
  });

  it('names a proxy URL that does not parse without its password', async () => {
    for (const url of ['socks5://alice:pa/ss@198.51.100.60:1080', 'http://alice:pa#ss@198.51.100.60:3128']) {
      const bad = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'bad', url } });
      assert.equal(bad.status, 400, bad.text);
      assert.ok(!bad.text.includes('pa/ss') && !bad.text.includes('pa#ss'), bad.text);
    }
  });

  it('refuses a proxy URL with a password and no username (400 naming url), as the separate fields are: nothing stored', async () => {
    const proxies = await h.db.selectFrom('proxies').select('id').execute();
    for (const url of ['socks5://:secret@198.51.100.62:1080', 'http://:secret@198.51.100.62:3128']) {
      const bad = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'no-user', url } });
      assert.equal(bad.status, 400, `${url}: ${bad.text}`);
      assert.equal(bad.body.error.field, 'url', bad.text);
      assert.match(bad.body.error.message, /password needs a username/, bad.text);
      assert.ok(!bad.text.includes('secret'), bad.text);
    }
    assert.equal((await h.db.selectFrom('proxies').select('id').execute()).length, proxies.length, 'no proxy stored');
  });

  it('refuses credentials the protocol cannot carry (400 naming the field), which no dial could ever send', async () => {
    const cases = [
      { body: { name: 'h1', url: 'http://a%3Ab:pw@198.51.100.61:3128' }, field: 'url' },
      { body: { name: 'h2', protocol: 'http', host: '198.51.100.61', port: 3128, username: 'a:b', password: 'pw' }, field: 'username' },
      { body: { name: 's1', protocol: 'socks5', host: '198.51.100.62', port: 1080, username: 'é'.repeat(200), password: 'pw' }, field: 'username' },
      { body: { name: 's2', protocol: 'socks5', host: '198.51.100.62', port: 1080, username: 'u', password: 'é'.repeat(200) }, field: 'password' },
    ];
    for (const { body, field } of cases) {
      const res = await h.call('POST', '/api/v1/proxies', { ...as(admin), body });
      assert.equal(res.status, 400, `${body.name}: ${res.text}`);
      assert.equal(res.body.error.field, field, body.name);
    }
    const http = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'h3', url: 'http://carol:pw@198.51.100.63:3128' } });
    assert.equal(http.status, 201, http.text);
    const before = JSON.stringify(await h.db.selectFrom('proxies').selectAll().where('id', '=', http.body.id).executeTakeFirstOrThrow());
    const renamed = await h.call('PATCH', `/api/v1/proxies/${http.body.id}`, { ...as(admin), body: { username: 'car:ol' } });
    assert.equal(renamed.status, 400, renamed.text);
    assert.equal(renamed.body.error.field, 'username');
    assert.equal(JSON.stringify(await h.db.selectFrom('proxies').selectAll().where('id', '=', http.body.id).executeTakeFirstOrThrow()), before);
  });
});
