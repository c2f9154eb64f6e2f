// settings.dnsUpstream through the api (issue 15, migration 0019): null unless set; an IPv4
// address with an optional port is stored, audited and read back; absent in a change keeps it,
// null clears it. An address no proxy may be asked for (loopback, link-local, multicast, the LAN,
// 0.0.0.0) or a value that is not an address is refused with 400 naming dnsUpstream, changing
// nothing (settings row, audit log); the column's CHECK refuses a wrong spelling from any writer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { ADMIN, ApiHarness, type Session } from './api-harness.js';

describe('api: settings dnsUpstream', () => {
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

  it('null unless set; stored, audited and read back; absent keeps it; null clears it', async () => {
    const settings = (await h.call('GET', '/api/v1/settings', as(admin))).body;
    assert.equal(settings.dnsUpstream, null);
    const saved = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, dnsMode: 'proxy', dnsUpstream: '203.0.113.53:5353' } });
    assert.equal(saved.status, 200, saved.text);
    assert.equal(saved.body.dnsUpstream, '203.0.113.53:5353');
    const stored = await h.db.selectFrom('settings').select('dnsUpstream').where('id', '=', 1).executeTakeFirstOrThrow();
    assert.equal(stored.dnsUpstream, '203.0.113.53:5353', 'the column dns_upstream');
    const audit = await h.db.selectFrom('auditLog').select('after').where('entityType', '=', 'settings').orderBy('id', 'desc').executeTakeFirstOrThrow();
    assert.equal((audit.after as { dnsUpstream: string }).dnsUpstream, '203.0.113.53:5353');
    const { dnsUpstream: _kept, ...without } = saved.body;
    assert.equal((await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...without, healthIntervalS: 40 } })).status, 200);
    assert.equal((await h.call('GET', '/api/v1/settings', as(admin))).body.dnsUpstream, '203.0.113.53:5353', 'absent in a change: kept');
    const cleared = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...saved.body, dnsUpstream: null } });
    assert.equal(cleared.body.dnsUpstream, null);
    assert.equal((await h.call('GET', '/api/v1/settings', as(admin))).body.dnsUpstream, null);
  });

  it('refuses loopback, link-local, multicast, broadcast, the LAN, 0.0.0.0 and non-addresses: 400 naming dnsUpstream, nothing changed', async () => {
    const settings = (await h.call('GET', '/api/v1/settings', as(admin))).body;
    await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, dnsUpstream: '203.0.113.53' } });
    const before = await row();
    const audits = await h.auditCount();
    const cases: [string, RegExp][] = [
      ['127.0.0.53', /loopback/],
      ['169.254.169.254', /link-local/],
      ['224.0.0.251:5353', /multicast/],
      ['255.255.255.255', /broadcast/],
      ['192.168.2.1', /LAN prefix/],
      ['0.0.0.0', /unspecified/],
      ['203.0.113.53:0', /port/],
      ['dns.example', /dnsUpstream/],
      ['203.0.113.053', /dnsUpstream/],
    ];
    for (const [value, why] of cases) {
      const refused = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, dnsUpstream: value } });
      assert.equal(refused.status, 400, `${value}: ${refused.text}`);
      assert.equal(refused.body.error.field, 'dnsUpstream', `${value}: ${refused.text}`);
      assert.match(refused.body.error.message, /dnsUpstream/, value);
      assert.match(refused.body.error.message, why, value);
    }
    assert.equal(await row(), before, 'a refused change stored something');
    assert.equal(await h.auditCount(), audits, 'a refused change was audited');
  });

  it('the column refuses a wrong spelling from any writer', async () => {
    await assert.rejects(sql`UPDATE settings SET dns_upstream = 'dns.example' WHERE id = 1`.execute(h.db), /settings_dns_upstream_spelling/);
    await assert.rejects(sql`UPDATE settings SET dns_upstream = '203.0.113.53:' WHERE id = 1`.execute(h.db), /settings_dns_upstream_spelling/);
  });
});
