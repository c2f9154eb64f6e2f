// The per-proxy "exit should differ" setting through the api (issue 17, the `proxy_address` exit-IP
// alarm): false unless set, set on create and edit by an admin (role pgw_api may write the column,
// migration 0017), audited, and refused when it is not a boolean or the caller is a viewer (nothing changed).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness, type Session, VIEWER } from './api-harness.js';

describe('api: proxy exitDiffers', () => {
  let h: ApiHarness;
  let admin: Session;
  let viewer: Session;
  const as = (session: Session) => ({ auth: { bearer: session.token } });
  const rows = async () => JSON.stringify(await h.db.selectFrom('proxies').selectAll().orderBy('id').execute());

  before(async () => {
    h = await ApiHarness.start();
    admin = await h.login(ADMIN);
    viewer = await h.login(VIEWER);
  });
  after(async () => {
    await h?.stop();
  });

  it('is false unless set; set on create, changed by an edit and audited', async () => {
    const plain = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'vps', url: 'socks5://198.51.100.50:1080' } });
    assert.equal(plain.status, 201, plain.text);
    assert.equal(plain.body.exitDiffers, false);
    const pool = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'pool', url: 'socks5://198.51.100.51:1080', exitDiffers: true } });
    assert.equal(pool.status, 201, pool.text);
    assert.equal(pool.body.exitDiffers, true);
    const edited = await h.call('PATCH', `/api/v1/proxies/${plain.body.id}`, { ...as(admin), body: { exitDiffers: true } });
    assert.equal(edited.status, 200, edited.text);
    assert.equal(edited.body.exitDiffers, true);
    const audit = await h.db.selectFrom('auditLog').select(['before', 'after']).where('entityType', '=', 'proxy').where('entityId', '=', plain.body.id).where('action', '=', 'update').executeTakeFirstOrThrow();
    assert.deepEqual([(audit.before as { exitDiffers: boolean }).exitDiffers, (audit.after as { exitDiffers: boolean }).exitDiffers], [false, true]);
    assert.equal((await h.call('GET', `/api/v1/proxies/${pool.body.id}`, as(viewer))).body.exitDiffers, true);
  });

  it('refuses a value that is not a boolean (400 naming exitDiffers) and a viewer (403), changing nothing', async () => {
    const id = (await h.db.selectFrom('proxies').select('id').where('name', '=', 'vps').executeTakeFirstOrThrow()).id;
    const before = await rows();
    const bad = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(admin), body: { exitDiffers: 'yes' } });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body.error), /exitDiffers/);
    const byViewer = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...as(viewer), body: { exitDiffers: false } });
    assert.equal(byViewer.status, 403);
    assert.equal(await rows(), before);
  });
});
