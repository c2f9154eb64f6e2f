// Fail policy and backup proxies through the real api (issue 17): the real Postgres with migration
// 0013, the real health gate (dante): stored in order, validated with the field named, a listed
// backup cannot be deleted, the hold-down setting kept when a change leaves it out, viewers refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, type ApiHarness, type Session, VIEWER } from './api-harness.js';
import { ApiStack } from './api-stack.js';

describe('mapping fail policy through the api', { timeout: 120_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let admin: Session;
  let viewer: Session;
  const proxyIds: number[] = [];
  let mappingId: number;
  const as = (session: Session) => ({ auth: { bearer: session.token } });

  before(async () => {
    stack = await ApiStack.start();
    h = stack.harness;
    admin = await h.login(ADMIN);
    viewer = await h.login(VIEWER);
    for (const name of ['primary', 'backup-a', 'backup-b']) {
      const created = await h.call('POST', '/api/v1/proxies', { ...as(admin), body: { name, url: stack.dante.url } });
      assert.equal(created.status, 201, created.text);
      proxyIds.push(created.body.id);
    }
  });
  after(async () => {
    await stack?.stop();
  });

  it('a mapping without a policy is closed with no backups', async () => {
    const res = await h.call('POST', '/api/v1/mappings', { ...as(admin), body: { clientIp: '192.168.2.20', proxyId: proxyIds[0] } });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual([res.body.failPolicy, res.body.backupProxyIds], ['closed', []]);
  });

  it('backup with an ordered list: stored and returned in that order', async () => {
    const res = await h.call('POST', '/api/v1/mappings', { ...as(admin), body: { clientIp: '192.168.2.21', proxyId: proxyIds[0], failPolicy: 'backup', backupProxyIds: [proxyIds[2], proxyIds[1]] } });
    assert.equal(res.status, 201, res.text);
    mappingId = res.body.id;
    const read = await h.call('GET', `/api/v1/mappings/${mappingId}`, as(admin));
    assert.deepEqual([read.body.failPolicy, read.body.backupProxyIds], ['backup', [proxyIds[2], proxyIds[1]]]);
  });

  it('bad lists are refused with the field named, and change nothing', async () => {
    const patch = (body: object) => h.call('PATCH', `/api/v1/mappings/${mappingId}`, { ...as(admin), body });
    const unknown = await patch({ backupProxyIds: [999_999] });
    assert.deepEqual([unknown.status, unknown.body.error.field], [404, 'backupProxyIds']);
    const own = await patch({ backupProxyIds: [proxyIds[0]] });
    assert.deepEqual([own.status, own.body.error.field], [400, 'backupProxyIds']);
    const twice = await patch({ backupProxyIds: [proxyIds[1], proxyIds[1]] });
    assert.equal(twice.status, 400, 'the spec refuses a repeat (uniqueItems)');
    const empty = await patch({ backupProxyIds: [] });
    assert.deepEqual([empty.status, empty.body.error.field], [400, 'backupProxyIds']);
    const direct = await patch({ failPolicy: 'direct' });
    assert.equal(direct.status, 400);
    const read = await h.call('GET', `/api/v1/mappings/${mappingId}`, as(admin));
    assert.deepEqual(read.body.backupProxyIds, [proxyIds[2], proxyIds[1]]);
  });

  it('a CSV import that makes a backup the primary drops it from the backups, as an edit does (was a 500 from the CHECK)', async () => {
    const created = await h.call('POST', '/api/v1/mappings', { ...as(admin), body: { clientIp: '192.168.2.30', proxyId: proxyIds[0], failPolicy: 'backup', backupProxyIds: [proxyIds[1], proxyIds[2]] } });
    assert.equal(created.status, 201, created.text);
    const csv = `client_ip,proxy_name,enabled\n192.168.2.30,backup-a,true\n`;
    const imported = await h.call('POST', '/api/v1/mappings/import', { ...as(admin), csv });
    assert.equal(imported.status, 200, imported.text);
    const read = await h.call('GET', `/api/v1/mappings/${created.body.id}`, as(admin));
    assert.deepEqual([read.body.proxyId, read.body.backupProxyIds], [proxyIds[1], [proxyIds[2]]]);
  });

  it('a viewer cannot change the policy', async () => {
    const res = await h.call('PATCH', `/api/v1/mappings/${mappingId}`, { ...as(viewer), body: { failPolicy: 'closed' } });
    assert.equal(res.status, 403);
  });

  it('a proxy listed as a backup is in use: its delete is refused', async () => {
    const res = await h.call('DELETE', `/api/v1/proxies/${proxyIds[1]}`, as(admin));
    assert.equal(res.status, 409, res.text);
    const proxy = await h.call('GET', `/api/v1/proxies/${proxyIds[1]}`, as(admin));
    assert.equal(proxy.status, 200);
  });

  it('the hold-down setting: defaults to 30, changed, kept by a change that leaves it out, bounded', async () => {
    const current = await h.call('GET', '/api/v1/settings', as(admin));
    assert.equal(current.body.backupHoldDownS, 30);
    const changed = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...current.body, backupHoldDownS: 45 } });
    assert.equal(changed.status, 200, changed.text);
    const { backupHoldDownS: _left, ...without } = current.body;
    assert.equal((await h.call('PUT', '/api/v1/settings', { ...as(admin), body: without })).status, 200);
    assert.equal((await h.call('GET', '/api/v1/settings', as(admin))).body.backupHoldDownS, 45);
    assert.equal((await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...current.body, backupHoldDownS: 3601 } })).status, 400);
  });
});
