// Two admins editing the settings at once. Each console loaded them, then saved the whole set: the
// second save silently put back what the first one had changed (strict OUTPUT switched off again,
// say). GET now gives the settings' version as an ETag; a PUT with If-Match of a version that is no
// longer the stored one is refused (412, nothing changed), so the console can show the other change.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness, type Session } from './api-harness.js';

describe('api: settings edited by two admins at once', () => {
  let h: ApiHarness;
  let admin: Session;
  const as = (session: Session, headers: Record<string, string> = {}) => ({ auth: { bearer: session.token }, headers });

  before(async () => {
    h = await ApiHarness.start();
    admin = await h.login(ADMIN);
  });
  after(async () => {
    await h?.stop();
  });

  it('refuses a save built on settings another admin changed since (412), keeping theirs', async () => {
    const loadedByA = await h.call('GET', '/api/v1/settings', as(admin));
    const loadedByB = await h.call('GET', '/api/v1/settings', as(admin));
    const versionA = loadedByA.headers.get('etag');
    assert.ok(versionA, 'GET gives the version');
    assert.equal(loadedByB.headers.get('etag'), versionA);

    const savedByB = await h.call('PUT', '/api/v1/settings', { ...as(admin, { 'if-match': loadedByB.headers.get('etag')! }), body: { ...loadedByB.body, strictOutput: true } });
    assert.equal(savedByB.status, 200, savedByB.text);
    assert.notEqual(savedByB.headers.get('etag'), versionA, 'a new version after the change');

    const staleByA = await h.call('PUT', '/api/v1/settings', { ...as(admin, { 'if-match': versionA }), body: { ...loadedByA.body, healthIntervalS: loadedByA.body.healthIntervalS + 5 } });
    assert.equal(staleByA.status, 412, staleByA.text);
    assert.match(staleByA.body.error.message, /changed/);
    const now = await h.call('GET', '/api/v1/settings', as(admin));
    assert.equal(now.body.strictOutput, true, "B's change stands");
    assert.equal(now.body.healthIntervalS, loadedByA.body.healthIntervalS, "A's stale save changed nothing");

    const retried = await h.call('PUT', '/api/v1/settings', { ...as(admin, { 'if-match': now.headers.get('etag')! }), body: { ...now.body, healthIntervalS: now.body.healthIntervalS + 5 } });
    assert.equal(retried.status, 200, retried.text);
  });

  it('a save without If-Match (a script, the CLI) is taken as before', async () => {
    const current = await h.call('GET', '/api/v1/settings', as(admin));
    const saved = await h.call('PUT', '/api/v1/settings', { ...as(admin), body: { ...current.body, probeTimeoutMs: current.body.probeTimeoutMs } });
    assert.equal(saved.status, 200, saved.text);
  });
});
