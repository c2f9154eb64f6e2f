// Usernames that differ only in case: `admin` and `Admin` could both exist, two accounts that
// read alike in the console and the audit log (one made to pass for the other). A name is now
// unique whatever its case, and a login finds its account whatever case it is typed in.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiHarness, ADMIN } from './api-harness.js';

describe('api: usernames are unique whatever their case', { timeout: 60_000 }, () => {
  let h: ApiHarness;

  before(async () => {
    h = await ApiHarness.start();
  });
  after(async () => {
    await h?.stop();
  });

  it('refuses a name that differs from another only in case, and logs in whatever the case', async () => {
    const admin = await h.login(ADMIN);
    const created = await h.call('POST', '/api/v1/users', { auth: { session: admin }, body: { username: 'Carol.Ops', password: 'carol-password-1', role: 'viewer', currentPassword: ADMIN.password } });
    assert.equal(created.status, 201, created.text);
    const twin = await h.call('POST', '/api/v1/users', { auth: { session: admin }, body: { username: 'carol.ops', password: 'other-password-2', role: 'admin', currentPassword: ADMIN.password } });
    assert.deepEqual([twin.status, twin.body.error?.field], [409, 'username'], twin.text);
    const login = await h.call('POST', '/api/v1/auth/login', { body: { username: 'CAROL.OPS', password: 'carol-password-1' } });
    assert.equal(login.status, 200, login.text);
    // Two creates at once pass the api's check together: the database's index refuses the second, named as the same field.
    const both = await Promise.all(['Dana', 'dana'].map((username) => h.call('POST', '/api/v1/users', { auth: { session: admin }, body: { username, password: 'dana-password-123', role: 'viewer', currentPassword: ADMIN.password } })));
    assert.deepEqual(both.map((r) => r.status).sort(), [201, 409]);
    assert.equal(both.find((r) => r.status === 409)?.body.error?.field, 'username');
    // Beside the api's check, the database refuses it too (another writer, or two creates at once).
    await assert.rejects(h.db.insertInto('users').values({ username: 'ALICE', passwordHash: 'x', role: 'admin' }).execute(), /users_username_lower/);
  });
});
