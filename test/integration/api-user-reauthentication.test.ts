// Creating an account, setting another account's password and making an admin each mint a
// credential that outlives the session. They asked for nothing but the session: a stolen admin
// session (a token lifted from a browser, an unattended console) created an admin of its own, or
// reset an admin's password, in two requests, and kept the gateway after the session ended. They
// now ask for the acting admin's own password, checked as a login is (throttled, audited).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_THROTTLE } from '../../services/api/src/auth/login-throttle.js';
import { ADMIN, ApiHarness, type Session, VIEWER } from './api-harness.js';

describe('api: minting a credential asks for the acting admin\'s own password', { timeout: 90_000 }, () => {
  let h: ApiHarness;
  let admin: Session;
  const userCount = async () => Number((await h.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const viewerRow = () => h.db.selectFrom('users').select(['id', 'role', 'passwordHash']).where('username', '=', VIEWER.username).executeTakeFirstOrThrow();

  before(async () => {
    h = await ApiHarness.start();
    admin = await h.login(ADMIN);
  });
  after(async () => {
    await h?.stop();
  });

  it('refuses each without currentPassword (400 naming it) and with a wrong one (422 wrong_password, audited), changing nothing', async () => {
    const users = await userCount();
    const viewer = await viewerRow();
    const mallory = { username: 'mallory', password: 'mallory-password-123', role: 'admin' };
    const attempts: [string, string, Record<string, unknown>][] = [
      ['POST', '/api/v1/users', mallory],
      ['PATCH', `/api/v1/users/${viewer.id}`, { role: 'admin' }],
      ['PATCH', `/api/v1/users/${viewer.id}`, { password: 'taken-over-password-1' }],
    ];
    for (const [method, path, body] of attempts) {
      const missing = await h.call(method, path, { auth: { session: admin }, body });
      assert.equal(missing.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${missing.text}`);
      assert.equal(missing.body.error.field, 'currentPassword', missing.text);
    }
    for (const [method, path, body] of attempts.slice(0, 2)) {
      const wrong = await h.call(method, path, { auth: { session: admin }, body: { ...body, currentPassword: 'not-alices-password' } });
      assert.equal(wrong.status, 422, `${method} ${path}: ${wrong.text}`);
      assert.equal(wrong.body.error.code, 'wrong_password');
      assert.equal(wrong.body.error.field, 'currentPassword');
    }
    assert.equal(await userCount(), users, 'no user was created');
    assert.deepEqual(await viewerRow(), viewer, 'the viewer is neither promoted nor given a new password');
    const audited = await h.db.selectFrom('auditLog').select('action').where('action', '=', 'reauth_failed').execute();
    assert.equal(audited.length, 2, 'each wrong password is audited');
  });

  it('does each with the right password; a demotion needs none', async () => {
    const created = await h.call('POST', '/api/v1/users', { auth: { session: admin }, body: { username: 'bruno', password: 'bruno-password-123', role: 'viewer', currentPassword: ADMIN.password } });
    assert.equal(created.status, 201, created.text);
    const promoted = await h.call('PATCH', `/api/v1/users/${created.body.id}`, { auth: { session: admin }, body: { role: 'admin', currentPassword: ADMIN.password } });
    assert.equal(promoted.status, 200, promoted.text);
    assert.equal(promoted.body.role, 'admin');
    const reset = await h.call('PATCH', `/api/v1/users/${created.body.id}`, { auth: { session: admin }, body: { password: 'bruno-reset-pass-456', currentPassword: ADMIN.password } });
    assert.equal(reset.status, 200, reset.text);
    assert.equal((await h.call('POST', '/api/v1/auth/login', { body: { username: 'bruno', password: 'bruno-reset-pass-456' } })).status, 200);
    const demoted = await h.call('PATCH', `/api/v1/users/${created.body.id}`, { auth: { session: admin }, body: { role: 'viewer' } });
    assert.equal(demoted.status, 200, demoted.text);
    const nothing = await h.call('PATCH', `/api/v1/users/${created.body.id}`, { auth: { session: admin }, body: { currentPassword: ADMIN.password } });
    assert.equal(nothing.status, 400, `currentPassword alone changes nothing: ${nothing.text}`);
  });

  it('counts wrong passwords as failed logins: beyond the limit even the right one is refused (429)', async () => {
    const viewer = await viewerRow();
    const promote = (currentPassword: string) => h.call('PATCH', `/api/v1/users/${viewer.id}`, { auth: { session: admin }, body: { role: 'admin', currentPassword } });
    const statuses: number[] = [];
    for (let i = 0; i < DEFAULT_THROTTLE.perAddressAndUser + 2; i++) statuses.push((await promote(`guess-${i}-wrong-password`)).status);
    console.log(`# ${statuses.length} wrong passwords in a row: ${statuses.join(' ')}`);
    assert.ok(statuses.includes(429), 'the guesses are throttled');
    const right = await promote(ADMIN.password);
    assert.equal(right.status, 429, right.text);
    assert.match(right.headers.get('retry-after') ?? '', /^\d+$/);
    assert.equal((await viewerRow()).role, 'viewer');
  });
});
