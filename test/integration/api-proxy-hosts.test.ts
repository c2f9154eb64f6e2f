// Proxies where none may be (docs/SECURITY.md, Destinations): a proxy on the gateway's loopback, a
// link-local address (the cloud metadata service) or inside the LAN prefix would turn a mapping
// into a door to the gateway's own or its neighbours' services. Saving one is refused with 400
// naming the field and the reason, and changes nothing (rows and audit log compared).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness, type Session } from './api-harness.js';

describe('api: proxy hosts on loopback, link-local or the LAN are refused', () => {
  let h: ApiHarness;
  let admin: Session;
  let existingId: number;
  const as = (session: Session) => ({ auth: { bearer: session.token } });

  /** Everything a refused save could have touched. */
  async function snapshot(): Promise<string> {
    const proxies = await h.db.selectFrom('proxies').selectAll().orderBy('id').execute();
    return JSON.stringify({ proxies, audit: await h.auditCount() });
  }

  before(async () => {
    h = await ApiHarness.start();
    admin = await h.login(ADMIN);
    existingId = await h.seedProxy('existing');
  });
  after(async () => {
    await h?.stop();
  });

  for (const [what, body, field, host] of [
    ['127.0.0.1', { protocol: 'socks5', host: '127.0.0.1', port: 1080 }, 'host', '127.0.0.1'],
    ['127.1 (inet_aton spelling of 127.0.0.1)', { protocol: 'socks5', host: '127.1', port: 1080 }, 'host', '127.1'],
    ['localhost in a URL', { url: 'http://localhost:3128' }, 'url', 'localhost'],
    ['the metadata address 169.254.169.254', { protocol: 'http', host: '169.254.169.254', port: 80 }, 'host', '169.254.169.254'],
    ['a link-local address in a URL', { url: 'socks5://user:secret@169.254.7.7:1080' }, 'url', '169.254.7.7'],
    ['an address inside the LAN prefix', { protocol: 'http', host: '192.168.2.50', port: 3128 }, 'host', '192.168.2.50'],
    ['the unspecified address', { protocol: 'socks5', host: '0.0.0.0', port: 1080 }, 'host', '0.0.0.0'],
  ] as const) {
    it(`creating a proxy at ${what} gives 400 naming ${field} and the host, and changes nothing`, async () => {
      const before = await snapshot();
      const res = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: `refused-${host}`, ...body } });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.field, field);
      assert.ok(res.body.error.message.includes(`proxy host ${host} is`), res.body.error.message);
      assert.equal(res.text.includes('secret'), false, 'the password is not echoed');
      assert.equal(await snapshot(), before);
    });
  }

  it('moving an existing proxy to 127.0.0.1 or into the LAN gives 400 and leaves the row as it was', async () => {
    const before = await snapshot();
    const toLoopback = await h.call('PATCH', `/api/v1/proxies/${existingId}`, { ...as(admin), body: { host: '127.0.0.1' } });
    assert.deepEqual([toLoopback.status, toLoopback.body.error.field], [400, 'host']);
    assert.match(toLoopback.body.error.message, /127\.0\.0\.1 is a loopback address/);
    const toLan = await h.call('PATCH', `/api/v1/proxies/${existingId}`, { ...as(admin), body: { url: 'http://192.168.2.1:3128' } });
    assert.deepEqual([toLan.status, toLan.body.error.field], [400, 'url']);
    assert.match(toLan.body.error.message, /192\.168\.2\.1 is inside the LAN prefix/);
    assert.equal(await snapshot(), before);
  });

  it('the LAN check follows the lanCidr setting; public and other private hosts are accepted', async () => {
    await h.db.updateTable('settings').set({ lanCidr: '10.20.0.0/16' }).where('id', '=', 1).execute();
    try {
      const inNewLan = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'in-new-lan', protocol: 'http', host: '10.20.3.4', port: 3128 } });
      assert.deepEqual([inNewLan.status, inNewLan.body.error?.field], [400, 'host']);
      for (const [name, host] of [['old-lan', '192.168.2.50'], ['public', '198.51.100.77'], ['private-wan', '10.99.0.5']] as const) {
        const res = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name, protocol: 'socks5', host, port: 1080 } });
        assert.equal(res.status, 201, `${host}: ${JSON.stringify(res.body)}`);
      }
    } finally {
      await h.db.updateTable('settings').set({ lanCidr: '192.168.2.0/24' }).where('id', '=', 1).execute();
    }
  });

  it('a LAN change that would put a stored proxy inside the LAN prefix is refused (409 naming it), and changes nothing', async () => {
    // Every dial to it would then be refused as proxy_lan (health, forwarder, strict OUTPUT): its
    // clients blocked by a settings save that answered 200.
    const outside = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'next-door', protocol: 'socks5', host: '192.168.10.5', port: 1080 } });
    assert.equal(outside.status, 201, JSON.stringify(outside.body));
    const current = (await h.call('GET', '/api/v1/settings', as(admin))).body as Record<string, unknown>;
    const { updatedAt: _updatedAt, ...settings } = current;
    const before = JSON.stringify({ proxies: await snapshot(), settings: await h.db.selectFrom('settings').selectAll().execute() });
    const widened = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, lanCidr: '192.168.0.0/16' } });
    assert.deepEqual([widened.status, widened.body.error?.field], [409, 'lanCidr'], JSON.stringify(widened.body));
    assert.match(widened.body.error.message, /next-door \(192\.168\.10\.5\)/);
    assert.equal(JSON.stringify({ proxies: await snapshot(), settings: await h.db.selectFrom('settings').selectAll().execute() }), before);
    // A change that leaves it outside passes.
    const other = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings, lanCidr: '192.168.2.0/23' } });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    assert.equal((await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...settings } })).status, 200);
    assert.equal((await h.call('DELETE', `/api/v1/proxies/${outside.body.id as number}`, as(admin))).status, 204);
  });

  it('a proxy saved while a LAN change that takes its host in commits is refused: the save judges the host under the LAN in force when it writes', async () => {
    // The save read the LAN before its transaction, unlocked: a settings change that had checked the
    // stored proxies, committing meanwhile, left a proxy inside the new LAN. The test's transaction
    // stands in for that change (it holds the settings row as the api's settings save does).
    let saving: ReturnType<ApiHarness['call']> | undefined;
    await h.db.transaction().execute(async (trx) => {
      await trx.selectFrom('settings').select('id').where('id', '=', 1).forUpdate().execute();
      await trx.updateTable('settings').set({ lanCidr: '192.168.0.0/16' }).where('id', '=', 1).execute();
      saving = h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'raced-in', protocol: 'socks5', host: '192.168.20.5', port: 1080 } });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    });
    try {
      const saved = await saving!;
      assert.deepEqual([saved.status, saved.body.error?.field], [400, 'host'], saved.text);
      assert.match(saved.body.error.message, /192\.168\.20\.5 is inside the LAN prefix/);
      assert.equal((await h.db.selectFrom('proxies').select('id').where('name', '=', 'raced-in').execute()).length, 0);
    } finally {
      await h.db.updateTable('settings').set({ lanCidr: '192.168.2.0/24' }).where('id', '=', 1).execute();
      await h.db.deleteFrom('proxies').where('name', '=', 'raced-in').execute();
    }
  });
});

