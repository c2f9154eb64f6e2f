// An admin deleting their own account while another admin remains (leaving a team). The audit
// row was written after the delete, naming the deleted user as its actor: its foreign key failed
// and the operator got a 409 that named nothing they could act on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiHarness, ADMIN } from './api-harness.js';

describe('api: an admin deletes their own account', { timeout: 60_000 }, () => {
  let h: ApiHarness;

  before(async () => {
    h = await ApiHarness.start();
  });
  after(async () => {
    await h?.stop();
  });

  it('is deleted, audited under their name, and their session ends', async () => {
    const admin = await h.login(ADMIN);
    const second = { username: 'bernard', password: 'bernard-password-1' };
    assert.equal((await h.call('POST', '/api/v1/users', { auth: { session: admin }, body: { ...second, role: 'admin', currentPassword: ADMIN.password } })).status, 201);
    const leaving = await h.login(second);
    const me = (await h.call('GET', '/api/v1/auth/me', { auth: { session: leaving } })).body;
    const deleted = await h.call('DELETE', `/api/v1/users/${me.id}`, { auth: { session: leaving } });
    assert.equal(deleted.status, 204, `${deleted.status} ${deleted.text}`);
    const rows = await h.db.selectFrom('auditLog').select(['actorUserId', 'actorUsername', 'action']).where('entityType', '=', 'user').where('entityId', '=', String(me.id)).where('action', '=', 'delete').execute();
    assert.deepEqual(rows, [{ actorUserId: null, actorUsername: second.username, action: 'delete' }]);
    assert.equal((await h.call('GET', '/api/v1/auth/me', { auth: { session: leaving } })).status, 401, 'the deleted account is logged out');
    assert.equal((await h.call('GET', '/api/v1/auth/me', { auth: { session: admin } })).status, 200, 'the other admin is not');
  });
});
