// Tags through the mapping form's api and the CSV (issue 17, groups): set on create and edit (the
// console's mapping form), carried by export and import (a `tags` column, space separated), a
// tags-only change shown by the dry run with the stored and the new tags, export -> import -> export
// byte for byte, and a bad tag rejecting the file naming line and column. Real Postgres, the real
// health service and a dante (the create's health gate).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, type ApiHarness, type Session } from './api-harness.js';
import { ApiStack } from './api-stack.js';

describe('mapping tags: form fields and CSV', { timeout: 120_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let admin: Session;
  let proxyId: number;
  const as = (session: Session) => ({ auth: { bearer: session.token } });
  const tagsOf = async (clientIp: string) => (await h.db.selectFrom('mappings').select('tags').where('clientIp', '=', clientIp).executeTakeFirstOrThrow()).tags;

  before(async () => {
    stack = await ApiStack.start();
    h = stack.harness;
    admin = await h.login(ADMIN);
    const created = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name: 'dante', url: stack.dante.url } });
    assert.equal(created.status, 201, created.text);
    proxyId = created.body.id;
  });
  after(async () => {
    await stack?.stop();
  });

  it('takes tags on create and edit, audited, and refuses a bad one (400 naming tags, nothing changed)', async () => {
    const created = await h.call('POST', '/api/v1/mappings', { ...as(admin), body: { clientIp: '192.168.2.20', proxyId, tags: ['floor-2', 'kiosk'] } });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.body.tags, ['floor-2', 'kiosk']);
    const edited = await h.call('PATCH', `/api/v1/mappings/${created.body.id}`, { ...as(admin), body: { tags: ['kiosk', 'lobby'] } });
    assert.equal(edited.status, 200, edited.text);
    assert.deepEqual(edited.body.tags, ['kiosk', 'lobby']);
    const audit = await h.db.selectFrom('auditLog').select(['before', 'after']).where('action', '=', 'update').where('entityId', '=', String(created.body.id)).executeTakeFirstOrThrow();
    assert.deepEqual([(audit.before as { tags: string[] }).tags, (audit.after as { tags: string[] }).tags], [['floor-2', 'kiosk'], ['kiosk', 'lobby']]);
    const bad = await h.call('PATCH', `/api/v1/mappings/${created.body.id}`, { ...as(admin), body: { tags: ['Floor 2'] } });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body.error), /tags/);
    assert.deepEqual(await tagsOf('192.168.2.20'), ['kiosk', 'lobby']);
    const untagged = await h.call('PATCH', `/api/v1/mappings/${created.body.id}`, { ...as(admin), body: { description: 'desk' } });
    assert.deepEqual(untagged.body.tags, ['kiosk', 'lobby'], 'an edit without tags keeps them');
  });

  it('export carries the tags; the dry run shows a tags-only change with both lists; import writes it; the round trip is exact', async () => {
    await h.call('POST', '/api/v1/mappings', { ...as(admin), body: { clientIp: '192.168.2.21', proxyId } });
    const exported = await h.call('GET', '/api/v1/mappings/export', as(admin));
    assert.equal(exported.status, 200);
    const [header, ...lines] = exported.text.trimEnd().split('\r\n');
    assert.match(header!, /,tags$/);
    assert.match(lines.find((l) => l.startsWith('192.168.2.20,'))!, /,kiosk lobby$/);
    assert.match(lines.find((l) => l.startsWith('192.168.2.21,'))!, /,$/, 'no tags: an empty cell');

    const retagged = exported.text.replace(/^(192\.168\.2\.21,.*),$/m, '$1,printer floor-3');
    assert.notEqual(retagged, exported.text);
    const preview = await h.call('POST', '/api/v1/mappings/import/preview', { ...as(admin), csv: retagged });
    assert.equal(preview.status, 200, preview.text);
    assert.equal(preview.body.unchanged, 1);
    assert.deepEqual(preview.body.changed.map((c: { before: { tags: string[] }; after: { tags: string[] } }) => [c.before.tags, c.after.tags]), [[[], ['printer', 'floor-3']]]);
    assert.deepEqual(await tagsOf('192.168.2.21'), [], 'the dry run writes nothing');
    const imported = await h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv: retagged });
    assert.deepEqual(imported.body, { created: 0, updated: 1, unchanged: 1 });
    assert.deepEqual(await tagsOf('192.168.2.21'), ['printer', 'floor-3']);

    const again = await h.call('GET', '/api/v1/mappings/export', as(admin));
    assert.equal(again.text, retagged, 'export -> import -> export is byte for byte');
    const reimported = await h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv: again.text });
    assert.deepEqual(reimported.body, { created: 0, updated: 0, unchanged: 2 });
  });

  it('a file without the tags column leaves tags alone; a bad tag cell rejects the file naming line and column', async () => {
    const noTags = 'client_ip,proxy_name,description\r\n192.168.2.21,dante,printer desk\r\n';
    const res = await h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv: noTags });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(await tagsOf('192.168.2.21'), ['printer', 'floor-3']);
    const badTag = 'client_ip,proxy_name,tags\r\n192.168.2.21,dante,printer Floor_3\r\n';
    const preview = await h.call('POST', '/api/v1/mappings/import/preview', { ...as(admin), csv: badTag });
    assert.deepEqual(preview.body.rejected.map((r: { line: number; field: string }) => [r.line, r.field]), [[2, 'tags']]);
    const refused = await h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv: badTag });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /line 2: .*Floor_3/);
    assert.deepEqual(await tagsOf('192.168.2.21'), ['printer', 'floor-3']);
  });
});
