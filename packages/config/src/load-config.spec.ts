import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { postgresUrl, positiveInt, redisUrl, secretKey, tcpPort } from './fields.js';
import { ConfigError, loadConfig, withdrawFromEnvironment } from './load-config.js';

const schema = z.object({
  PGW_DATABASE_URL: postgresUrl,
  PGW_API_PORT: tcpPort.default(8080),
  PGW_HEALTH_CONCURRENCY: positiveInt(32, 1000),
});

describe('loadConfig', () => {
  it('parses and applies defaults', () => {
    const config = loadConfig(schema, { PGW_DATABASE_URL: 'postgres://u@/pgw' });
    assert.deepEqual(config, { PGW_DATABASE_URL: 'postgres://u@/pgw', PGW_API_PORT: 8080, PGW_HEALTH_CONCURRENCY: 32 });
  });
  it('names a missing variable in one line', () => {
    assert.throws(() => loadConfig(schema, {}), (error: Error) => error instanceof ConfigError && error.message === 'PGW_DATABASE_URL: required but not set');
  });
  it('treats an empty value as unset', () => {
    assert.throws(() => loadConfig(schema, { PGW_DATABASE_URL: '' }), /PGW_DATABASE_URL: required but not set/);
  });
  it('names a bad value and what is wrong with it', () => {
    assert.throws(() => loadConfig(schema, { PGW_DATABASE_URL: 'mysql://x', PGW_API_PORT: '70000' }), /PGW_DATABASE_URL: must be a postgres:\/\/ URL.*; PGW_API_PORT: must be between 1 and 65535/);
    assert.throws(() => loadConfig(schema, { PGW_DATABASE_URL: 'postgres://u@/pgw', PGW_HEALTH_CONCURRENCY: 'many' }), /PGW_HEALTH_CONCURRENCY: must be a number/);
  });
  it('takes a port as plain digits only: no hex, exponent, fraction or blanks', () => {
    for (const bad of ['0x50', '1e3', '80.0', ' 80', '80 ', '+80']) {
      assert.throws(() => loadConfig(schema, { PGW_DATABASE_URL: 'postgres://u@/pgw', PGW_API_PORT: bad }), /PGW_API_PORT: must be a port number/, bad);
    }
    assert.equal(loadConfig(schema, { PGW_DATABASE_URL: 'postgres://u@/pgw', PGW_API_PORT: '8443' }).PGW_API_PORT, 8443);
  });
  it('refuses a postgres URL that names no database or has a bad port, without echoing it', () => {
    for (const bad of ['postgresql://', 'postgres://pgw:s3cret@h:notaport/db', 'postgres://pgw:s3cret@h:99999/db', 'postgres://pgw:s3cret@[bad/db', 'postgres://pgw:s3cret@h:0/db']) {
      assert.throws(() => loadConfig(schema, { PGW_DATABASE_URL: bad }), (error: Error) => /^PGW_DATABASE_URL: /.test(error.message) && !error.message.includes('s3cret'), bad);
    }
    for (const ok of ['postgres://u@/pgw', 'postgres://u:p@/pgw?host=/var/run/postgresql', 'postgresql://pgw_api:pw@127.0.0.1:5432/pgw']) {
      assert.equal(loadConfig(schema, { PGW_DATABASE_URL: ok }).PGW_DATABASE_URL, ok);
    }
  });
  it('never prints a secret value back', () => {
    const secrets = z.object({ PGW_SECRET_KEY: secretKey });
    assert.throws(() => loadConfig(secrets, { PGW_SECRET_KEY: 'hunter2hunter2' }), (error: Error) => /PGW_SECRET_KEY: must be 32 random bytes/.test(error.message) && !error.message.includes('hunter2'));
    const random = randomBytes(32);
    assert.deepEqual(loadConfig(secrets, { PGW_SECRET_KEY: random.toString('hex') }).PGW_SECRET_KEY, random);
    assert.deepEqual(loadConfig(secrets, { PGW_SECRET_KEY: random.toString('base64') }).PGW_SECRET_KEY, random);
    assert.deepEqual(loadConfig(secrets, { PGW_SECRET_KEY: random.toString('base64url') }).PGW_SECRET_KEY, random, 'a base64url key (token_urlsafe) read as before');
  });
  it('refuses a key that is typed, not generated, naming why', () => {
    const secrets = z.object({ PGW_SECRET_KEY: secretKey });
    for (const typed of ['0'.repeat(64), 'ab'.repeat(32), '0123456789abcdef'.repeat(4).slice(0, 64).replace(/[89a-f]/g, '0')]) {
      assert.throws(() => loadConfig(secrets, { PGW_SECRET_KEY: typed }), /PGW_SECRET_KEY: does not look random/, typed);
    }
    // Lenient base64 took any 43 to 44 characters, and "a" 43 times decoded to a repeating pattern.
    for (const text of ['a'.repeat(43), 'correct horse battery staple, more than 32 ok']) {
      assert.throws(() => loadConfig(secrets, { PGW_SECRET_KEY: text }), /PGW_SECRET_KEY: (does not look random|must be 32 random bytes)/, text);
    }
  });
});

describe('redisUrl', () => {
  const schema = z.object({ PGW_REDIS_URL: redisUrl });
  const load = (value: string) => loadConfig(schema, { PGW_REDIS_URL: value }).PGW_REDIS_URL;
  it('takes a socket path or a redis:// URL, with a service user and password', () => {
    for (const ok of ['/run/redis/redis.sock', '/run/redis/redis.sock?username=pgw-api&password=s3cr3tpass', 'redis://127.0.0.1:6379', 'redis://pgw-api:s3cr3tpass@127.0.0.1:6379/0', 'rediss://:s3cr3tpass@h:6380']) {
      assert.equal(load(ok), ok);
    }
  });
  it('names what is wrong without printing the password', () => {
    const refused = (value: string, message: RegExp) =>
      assert.throws(() => load(value), (error: Error) => message.test(error.message) && error.message.startsWith('PGW_REDIS_URL: ') && !error.message.includes('s3cr3tpass'));
    refused('/run/redis/redis.sock?username=pgw-api', /needs both username and password/);
    refused('/run/redis/redis.sock?password=s3cr3tpass', /needs both username and password/);
    refused('/run/redis/redis.sock?username=pgw-api&password=s3cr3tpass&db=2', /only username and password parameters \(not db\)/);
    refused('redis://pgw-api@127.0.0.1:6379', /has a username but no password/);
    // The usual slip, a password without its colon, lands in the username: never echoed.
    assert.throws(() => loadConfig(schema, { PGW_REDIS_URL: 'redis://S3cretPassw0rd@127.0.0.1:6379' }), (error: Error) => /^PGW_REDIS_URL: /.test(error.message) && !error.message.includes('S3cret'));
    refused('http://pgw-api:s3cr3tpass@127.0.0.1', /must be a redis:\/\/ URL/);
    refused('redis://pgw-api:s3cr3tpass@[bad', /not a valid redis:\/\/ URL/);
    // Port 0 (ioredis then retried forever with no word) and no host at all.
    refused('redis://pgw-api:s3cr3tpass@127.0.0.1:0', /port 0/);
    refused('redis://pgw-api:s3cr3tpass@:6379', /names no host|not a valid redis/);
    refused('redis://', /names no host|not a valid redis/);
  });
});

describe('withdrawFromEnvironment', () => {
  it('takes the named variables out and leaves the rest', () => {
    const env: NodeJS.ProcessEnv = { PGW_DATABASE_URL: 'postgres://u:pw@/pgw', PGW_REDIS_URL: 'redis://u:pw@h:1', PGW_NFT_BIN: '/usr/sbin/nft' };
    withdrawFromEnvironment(['PGW_DATABASE_URL', 'PGW_REDIS_URL'], env);
    assert.deepEqual(env, { PGW_NFT_BIN: '/usr/sbin/nft' });
  });
});
