// A password change checks the current password: with a stolen session token it is a password
// oracle, so it is counted as the login is (per address and user, per address, globally), before
// the check. Without it, a token gave ~10 guesses a second where a login gives 5 per 15 minutes,
// and ten such requests at once kept the password-check queue full, so every login was 429 "busy".
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_THROTTLE } from '../../services/api/src/auth/login-throttle.js';
import { ADMIN, ApiHarness, type Session, VIEWER } from './api-harness.js';

describe('api: password change is throttled as a login', () => {
  let h: ApiHarness;
  let viewer: Session;
  const change = (currentPassword: string) => h.call('POST', '/api/v1/auth/password', { auth: { bearer: viewer.token }, body: { currentPassword, newPassword: 'victor-new-password-456' } });

  before(async () => {
    h = await ApiHarness.start();
    viewer = await h.login(VIEWER);
  });
  after(async () => {
    await h?.stop();
  });

  it('refuses guesses beyond the per-user limit (429 + Retry-After), the right password too, changing nothing', async () => {
    const hashBefore = (await h.db.selectFrom('users').select('passwordHash').where('username', '=', VIEWER.username).executeTakeFirstOrThrow()).passwordHash;
    const wrong = await Promise.all(Array.from({ length: 10 }, (_, i) => change(`guess-${i}-wrong-password`)));
    const statuses = wrong.map((r) => r.status).sort();
    console.log(`# 10 concurrent wrong current passwords: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 422).length, DEFAULT_THROTTLE.perAddressAndUser, 'as many checked as a login may try');
    assert.equal(statuses.filter((s) => s === 429).length, 10 - DEFAULT_THROTTLE.perAddressAndUser);
    assert.match(wrong.find((r) => r.status === 429)!.headers.get('retry-after') ?? '', /^\d+$/);
    const right = await change(VIEWER.password);
    assert.equal(right.status, 429, right.text);
    const hashAfter = (await h.db.selectFrom('users').select('passwordHash').where('username', '=', VIEWER.username).executeTakeFirstOrThrow()).passwordHash;
    assert.equal(hashAfter, hashBefore);
  });

  it('leaves another user free to log in meanwhile', async () => {
    const admin = await h.call('POST', '/api/v1/auth/login', { body: ADMIN });
    assert.equal(admin.status, 200, admin.text);
  });
});
