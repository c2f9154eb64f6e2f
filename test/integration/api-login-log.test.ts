// A failed login's log line names the username only when it is a user's, as the audit does: an
// unknown "username" is often a password typed into the wrong field, and the journal (or `docker
// logs`) is readable by more people than the audit log. The built api process, at its production
// log level (info), real Postgres and a private Redis.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRedis } from '../../lab/redis.js';
import type { RedisHandle } from '../../lab/types.js';
import { type ApiProcess, startApiProcess } from '../support/api-process.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const ADMIN = { username: 'log-admin', password: 'log-admin-password-1' };
const PASSWORD_IN_USER_FIELD = 'Tr0ub4dor-and-3-horses';

describe('api: failed logins in the log', () => {
  let dir: string;
  let database: TestDatabase;
  let redis: RedisHandle;
  let api: ApiProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgw-api-login-log-'));
    redis = await startRedis({ dir });
    database = await createTestDatabase({ prefix: 'pgw_api_loginlog' });
    api = await startApiProcess({ database, redisUrl: redis.url('api'), dir, admin: ADMIN });
  });
  after(async () => {
    await api?.proc.kill();
    await redis?.stop();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("logs a real user's failed login by name, and an unknown name not at all", async () => {
    for (const username of [PASSWORD_IN_USER_FIELD, ADMIN.username]) {
      const res = await fetch(`${api.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: 'not-the-password' }) });
      assert.equal(res.status, 401);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const failed = readFileSync(api.logFile, 'utf8').split('\n').filter((line) => line.includes('login failed'));
    assert.equal(failed.length, 2, failed.join('\n'));
    assert.ok(!failed.some((line) => line.includes(PASSWORD_IN_USER_FIELD)), `the unknown name is in the log: ${failed.join('\n')}`);
    assert.ok(failed.some((line) => line.includes(ADMIN.username)), 'a real user is named');
  });
});
