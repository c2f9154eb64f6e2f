// What the api answers an authenticated caller is stored nowhere: no Cache-Control made every 200
// storable, so a browser kept the user list, the audit log with source addresses and User-Agents,
// the mapping export and the CSRF token in its disk cache past logout (a shared workstation), and a
// caching reverse proxy in front could serve them to others (a cookie does not stop a shared cache
// as an Authorization header does). The console's own files keep their caching (console.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness } from './api-harness.js';

describe('api: answers are not stored by caches', { timeout: 60_000 }, () => {
  let h: ApiHarness;

  before(async () => {
    h = await ApiHarness.start();
  });
  after(async () => {
    await h?.stop();
  });

  it('every answer of an API operation says Cache-Control: no-store, a refusal too', async () => {
    const admin = await h.login(ADMIN);
    for (const path of ['/api/v1/users', '/api/v1/auth/csrf', '/api/v1/audit/export', '/api/v1/mappings/export', '/api/v1/auth/me']) {
      const res = await h.call('GET', path, { auth: { session: admin } });
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.equal(res.headers.get('cache-control'), 'no-store', path);
    }
    const refused = await h.call('GET', '/api/v1/users');
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('cache-control'), 'no-store', 'a 401');
  });
});
