import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { SERVICES, serviceEntry } from '../support/gateway.js';

/** Starts a built service with exactly this environment and returns how it ended. */
async function start(service: (typeof SERVICES)[number], env: Record<string, string>) {
  return execa('node', [serviceEntry(service)], { env, extendEnv: false, reject: false, timeout: 20_000 });
}

const VALID_BASE = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  PGW_DATABASE_URL: 'postgres://nobody:pw@/pgw?host=/nonexistent',
  PGW_REDIS_URL: '/nonexistent/redis.sock',
  PGW_SECRET_KEY: randomBytes(32).toString('hex'),
  PGW_JWT_SECRET: 'x1'.repeat(24),
  PGW_CSRF_SECRET: 'y2'.repeat(24),
};

describe('a service that cannot start says why in one line and exits non-zero', () => {
  for (const service of SERVICES) {
    it(`${service}: missing PGW_DATABASE_URL`, async () => {
      const { PGW_DATABASE_URL: _omit, ...env } = VALID_BASE;
      const result = await start(service, env);
      assert.notEqual(result.exitCode, 0);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
      assert.match(lines[0]!, new RegExp(`^pgw-${service}: cannot start: .*PGW_DATABASE_URL: required but not set`));
    });

    it(`${service}: a bad value is named, and a secret is never echoed`, async () => {
      const result = await start(service, { ...VALID_BASE, PGW_SECRET_KEY: 'hunter2-not-a-key', PGW_LOG_LEVEL: 'loud' });
      assert.notEqual(result.exitCode, 0);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /PGW_LOG_LEVEL/);
      assert.doesNotMatch(result.stderr + result.stdout, /hunter2/);
    });
  }
});
