// A user's own password change racing an admin's reset of that password (an incident response:
// the admin takes the account back). The change read the row, spent its argon2 time, then wrote
// its hash over whatever was stored by then: the admin's reset was undone and the changer got a
// valid session. Real Postgres; the test holds the user's row (as a slow commit would) while the
// change hashes, and commits the admin's reset meanwhile.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { hashPassword } from '../../services/api/src/auth/passwords.js';
import { ApiHarness, type Session, VIEWER } from './api-harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('api: a password change beside an admin reset of the same password', { timeout: 60_000 }, () => {
  let h: ApiHarness;
  let viewer: Session;

  before(async () => {
    h = await ApiHarness.start();
    viewer = await h.login(VIEWER);
  });
  after(async () => {
    await h?.stop();
  });

  it('is refused once the reset is in, and the reset holds', async () => {
    const resetTo = 'reset-by-the-admin-12345';
    const resetHash = await hashPassword(resetTo);
    let changing: ReturnType<ApiHarness['call']> | undefined;
    await h.db.transaction().execute(async (trx) => {
      await sql`SELECT 1 FROM users WHERE username = ${VIEWER.username} FOR UPDATE`.execute(trx);
      changing = h.call('POST', '/api/v1/auth/password', { auth: { session: viewer }, body: { currentPassword: VIEWER.password, newPassword: 'the-changers-own-98765' } });
      await sleep(1_500);
      // The admin's reset, as PATCH /users/:id writes it: a new hash and the token version bumped.
      await trx.updateTable('users').set({ passwordHash: resetHash, tokenVersion: sql`token_version + 1` }).where('username', '=', VIEWER.username).execute();
    });
    const changed = await changing!;
    assert.equal(changed.status, 401, `the change went through over the reset: ${changed.status} ${changed.text}`);
    const login = await h.call('POST', '/api/v1/auth/login', { body: { username: VIEWER.username, password: resetTo } });
    assert.equal(login.status, 200, 'the password the admin set logs in');
  });
});
