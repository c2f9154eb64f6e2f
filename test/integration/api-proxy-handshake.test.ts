// The SOCKS5 handshake setting through the api (issue 12 point 2): set on create and edit, shown
// with what the health probe learned, refused when it is no mode (400 naming the field, nothing
// changed), and forgotten (learned again) when the endpoint, credentials or mode change.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness, type Session } from './api-harness.js';

describe('api: proxy handshake mode', () => {
  let h: ApiHarness;
  let admin: Session;
  const as = (session: Session) => ({ auth: { bearer: session.token } });
  /** What the health service writes (role pgw_health in production; the test's owner connection here). */
  const learn = (id: number, learned: 'pipelined' | 'sequential' | 'early-data') => h.db.updateTable('proxies').set({ handshakeLearned: learned }).where('id', '=', id).execute();

  before(async () => {
    h = await ApiHarness.start();
    admin = await h.login(ADMIN);
  });
  after(async () => {
    await h?.stop();
  });

  it('defaults to auto with nothing learned, and takes a forced mode on create', async () => {
    const auto = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'hs-auto', url: 'socks5://198.51.100.40:1080' } });
    assert.equal(auto.status, 201, JSON.stringify(auto.body));
    assert.deepEqual([auto.body.handshakeMode, auto.body.handshakeLearned], ['auto', null]);
    const forced = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'hs-seq', url: 'socks5://198.51.100.41:1080', handshakeMode: 'sequential' } });
    assert.equal(forced.status, 201, JSON.stringify(forced.body));
    assert.equal(forced.body.handshakeMode, 'sequential');
    const early = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'hs-early', url: 'socks5://198.51.100.44:1080', handshakeMode: 'early-data' } });
    assert.equal(early.status, 201, JSON.stringify(early.body));
    assert.equal(early.body.handshakeMode, 'early-data');
  });

  it('refuses a mode that is none of auto, pipelined, sequential, early-data with 400 naming handshakeMode', async () => {
    const before = JSON.stringify(await h.db.selectFrom('proxies').selectAll().orderBy('id').execute());
    const res = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'hs-bad', url: 'socks5://198.51.100.42:1080', handshakeMode: 'fast' } });
    assert.equal(res.status, 400);
    assert.match(JSON.stringify(res.body.error), /handshakeMode/);
    assert.equal(JSON.stringify(await h.db.selectFrom('proxies').selectAll().orderBy('id').execute()), before);
  });

  it('shows what was learned, keeps it on a rename, and forgets it on an endpoint, credential or mode change', async () => {
    const created = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'hs-learn', url: 'socks5://198.51.100.43:1080' } });
    const id = created.body.id as number;
    const patch = (body: Record<string, unknown>) => h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(admin), body });
    await learn(id, 'pipelined');
    assert.equal((await h.call('GET', `/api/v1/proxies/${id}`, as(admin))).body.handshakeLearned, 'pipelined');
    assert.equal((await patch({ name: 'hs-learn-renamed' })).body.handshakeLearned, 'pipelined');
    await learn(id, 'early-data');
    assert.equal((await h.call('GET', `/api/v1/proxies/${id}`, as(admin))).body.handshakeLearned, 'early-data');
    for (const change of [{ port: 1081 }, { username: 'u', password: 'p' }, { handshakeMode: 'pipelined' }]) {
      await learn(id, 'sequential');
      const res = await patch(change);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.handshakeLearned, null, `after ${JSON.stringify(Object.keys(change))}`);
    }
    assert.equal((await h.call('GET', `/api/v1/proxies/${id}`, as(admin))).body.handshakeMode, 'pipelined');
  });
});
