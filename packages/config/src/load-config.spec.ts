import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { postgresUrl, positiveInt, secretKey, tcpPort } from './fields.js';
import { ConfigError, loadConfig } from './load-config.js';

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
  it('never prints a secret value back', () => {
    const secrets = z.object({ PGW_SECRET_KEY: secretKey });
    assert.throws(() => loadConfig(secrets, { PGW_SECRET_KEY: 'hunter2hunter2' }), (error: Error) => /PGW_SECRET_KEY: must be 32 random bytes/.test(error.message) && !error.message.includes('hunter2'));
    assert.equal(loadConfig(secrets, { PGW_SECRET_KEY: 'ab'.repeat(32) }).PGW_SECRET_KEY.length, 32);
  });
});
