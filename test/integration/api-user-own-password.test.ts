// An admin's own password goes through POST /auth/password, which asks for the current one and
// counts that check as a login (api-password-change-throttle.test.ts). PATCH /users/{own id} with a
// password asked for nothing: a stolen admin session, or an unattended browser, took the named
// account for good (the new password, every other session of the owner ended).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiHarness, ADMIN } from './api-harness.js';

describe('api: an admin\'s own password is not changed through the users route', { timeout: 60_000 }, () => {
  let h: ApiHarness;

  before(async () => {
    h = await ApiHarness.start();
  });
  after(async () => {
    await h?.stop();
  });

  it('refuses PATCH /users/{own id} with a password (403 naming /auth/password), changing nothing; another admin may still reset it', async () => {
    const admin = await h.login(ADMIN);
    const me = (await h.call('GET', '/api/v1/auth/me', { auth: { session: admin } })).body;
    const hashOf = async () => (await h.db.selectFrom('users').select('passwordHash').where('id', '=', me.id).executeTakeFirstOrThrow()).passwordHash;
    const before = await hashOf();
    const res = await h.call('PATCH', `/api/v1/users/${me.id}`, { auth: { session: admin }, body: { password: 'taken-over-password-123' } });
    assert.equal(res.status, 403, res.text);
    assert.match(res.text, /\/api\/v1\/auth\/password/);
    assert.equal(await hashOf(), before, 'the password is unchanged');
    assert.equal((await h.call('POST', '/api/v1/auth/login', { body: { username: ADMIN.username, password: 'taken-over-password-123' } })).status, 401);
    assert.equal((await h.call('GET', '/api/v1/auth/me', { auth: { session: admin } })).status, 200, 'the session goes on');

    // Another admin resetting it (a forgotten password) is what the route is for.
    const second = { username: 'cecile', password: 'cecile-password-12' };
    assert.equal((await h.call('POST', '/api/v1/users', { auth: { session: admin }, body: { ...second, role: 'admin', currentPassword: ADMIN.password } })).status, 201);
    const other = await h.login(second);
    const reset = await h.call('PATCH', `/api/v1/users/${me.id}`, { auth: { session: other }, body: { password: 'reset-by-cecile-123', currentPassword: second.password } });
    assert.equal(reset.status, 200, reset.text);
    assert.equal((await h.call('POST', '/api/v1/auth/login', { body: { username: ADMIN.username, password: 'reset-by-cecile-123' } })).status, 200);
  });
});
