// settings.checkUrl through the api: the health probe dials the URL's host through every proxy, so a
// URL whose host the dialers refuse (not an IP address nor a hostname of letters, digits, '-' and
// '_' between dots) would fail every probe before any dial and mark every proxy down, blocking every
// client; and credentials in it are never sent by the probe while every console user can read the
// settings. Both are refused with 400 naming checkUrl, changing nothing (settings row, audit log);
// http(s) URLs of a hostname, an IPv4 or an IPv6 address are stored.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness, type Session } from './api-harness.js';

describe('api: settings checkUrl', () => {
  let h: ApiHarness;
  let admin: Session;
  const as = (session: Session) => ({ auth: { bearer: session.token } });
  const row = async () => JSON.stringify(await h.db.selectFrom('settings').selectAll().execute());

  before(async () => {
    h = await ApiHarness.start();
    admin = await h.login(ADMIN);
  });
  after(async () => {
    await h?.stop();
  });

  it('refuses a host the dialers refuse and embedded credentials: 400 naming checkUrl, nothing changed', async () => {
    const settings = (await h.call('GET', '/api/v1/settings', as(admin))).body;
    const before = await row();
    const audits = await h.auditCount();
    const cases: [string, RegExp][] = [
      ['http://a..b/ip', /host "a\.\.b"/],
      ['http://-x.example/ip', /host "-x\.example"/],
      ['http://a*b.example/ip', /host "a\*b\.example"/],
      ['http://user:secret@203.0.113.10/ip', /username or password/],
      ['https://user@check.example/ip', /username or password/],
    ];
    for (const [value, why] of cases) {
      const refused = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, checkUrl: value } });
      assert.equal(refused.status, 400, `${value}: ${refused.text}`);
      assert.equal(refused.body.error.field, 'checkUrl', `${value}: ${refused.text}`);
      assert.match(refused.body.error.message, why, value);
      assert.doesNotMatch(refused.text, /secret/, 'the password is not echoed');
    }
    assert.equal(await row(), before, 'a refused change stored something');
    assert.equal(await h.auditCount(), audits, 'a refused change was audited');
  });

  it('stores http(s) URLs of a hostname, an IPv4 and an IPv6 address (the positive control)', async () => {
    const settings = (await h.call('GET', '/api/v1/settings', as(admin))).body;
    for (const value of ['http://check_1.example.:8080/ip', 'https://203.0.113.10/ip', 'http://[2001:db8::10]/ip']) {
      const saved = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, checkUrl: value } });
      assert.equal(saved.status, 200, `${value}: ${saved.text}`);
      assert.equal(saved.body.checkUrl, value);
    }
  });
});
