import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { sealingPublicKey } from '@pgw/crypto';
import { execa } from 'execa';
import { SERVICES, serviceEntry } from '../support/gateway.js';

/** Starts a built service with exactly this environment and returns how it ended. */
async function start(service: (typeof SERVICES)[number], env: Record<string, string>) {
  return execa('node', [serviceEntry(service)], { env, extendEnv: false, reject: false, timeout: 20_000 });
}

const secretKey = randomBytes(32);
const COMMON = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  PGW_DATABASE_URL: 'postgres://nobody:pw@/pgw?host=/nonexistent',
  PGW_REDIS_URL: '/nonexistent/redis.sock',
};
/** What each service is given: the api seals with the public key alone, and the others open with the secret one. */
const validBase = (service: (typeof SERVICES)[number]): Record<string, string> =>
  service === 'api'
    ? { ...COMMON, PGW_SECRET_PUBLIC_KEY: sealingPublicKey(secretKey).toString('base64'), PGW_JWT_SECRET: 'x1'.repeat(24), PGW_CSRF_SECRET: 'y2'.repeat(24) }
    : { ...COMMON, PGW_SECRET_KEY: secretKey.toString('hex') };

describe('a service that cannot start says why in one line and exits non-zero', () => {
  for (const service of SERVICES) {
    it(`${service}: missing PGW_DATABASE_URL`, async () => {
      const { PGW_DATABASE_URL: _omit, ...env } = validBase(service);
      const result = await start(service, env);
      assert.notEqual(result.exitCode, 0);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
      assert.match(lines[0]!, new RegExp(`^pgw-${service}: cannot start: .*PGW_DATABASE_URL: required but not set`));
    });

    it(`${service}: a bad value is named, and a secret is never echoed`, async () => {
      const secret: Record<string, string> = service === 'api' ? { PGW_SECRET_PUBLIC_KEY: 'hunter2-not-a-key' } : { PGW_SECRET_KEY: 'hunter2-not-a-key' };
      const result = await start(service, { ...validBase(service), ...secret, PGW_LOG_LEVEL: 'loud' });
      assert.notEqual(result.exitCode, 0);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /PGW_LOG_LEVEL/);
      assert.doesNotMatch(result.stderr + result.stdout, /hunter2/);
    });
  }

  it('api: PGW_SECRET_KEY in its environment (an api.env from before 1.2) is refused, named and not echoed', async () => {
    const result = await start('api', { ...validBase('api'), PGW_SECRET_KEY: secretKey.toString('hex') });
    assert.notEqual(result.exitCode, 0);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^pgw-api: cannot start: .*PGW_SECRET_KEY: must not be given to the api .*PGW_SECRET_PUBLIC_KEY/);
    assert.doesNotMatch(result.stderr + result.stdout, new RegExp(secretKey.toString('hex')));
  });
});
