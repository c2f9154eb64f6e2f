import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sealingPublicKey } from '@pgw/crypto';
import { loadApiConfig } from './config.js';

const secretKey = randomBytes(32);

const env = {
  PGW_DATABASE_URL: 'postgres://pgw_api:pw@/pgw?host=/var/run/postgresql',
  PGW_REDIS_URL: '/run/redis/redis.sock',
  PGW_SECRET_PUBLIC_KEY: sealingPublicKey(secretKey).toString('base64'),
  PGW_JWT_SECRET: randomBytes(32).toString('hex'),
  PGW_CSRF_SECRET: randomBytes(32).toString('hex'),
};

test('/metrics has a loopback listener of its own by default, beside the API port', () => {
  const config = loadApiConfig(env);
  assert.deepEqual([config.PGW_API_METRICS_HOST, config.PGW_API_METRICS_PORT, config.PGW_API_PORT], ['127.0.0.1', 9104, 8080]);
});

test('a metrics port equal to the API port is refused, naming the variable', () => {
  assert.throws(() => loadApiConfig({ ...env, PGW_API_METRICS_PORT: '8080' }), /PGW_API_METRICS_PORT: must differ from PGW_API_PORT/);
});

test('PGW_TRUST_PROXY=true and hop counts are refused: both trust whoever connects, and a client reaching the port names its own address', () => {
  assert.throws(() => loadApiConfig({ ...env, PGW_TRUST_PROXY: 'true' }), /PGW_TRUST_PROXY: true would trust every hop/);
  // A hop count trusts the socket's peer whoever it is: with the port reachable past the proxy, X-Forwarded-For was the client's word.
  for (const hops of ['1', '2']) assert.throws(() => loadApiConfig({ ...env, PGW_TRUST_PROXY: hops }), /PGW_TRUST_PROXY: a hop count trusts whoever connects/, hops);
  assert.equal(loadApiConfig({ ...env, PGW_TRUST_PROXY: '10.0.0.5' }).PGW_TRUST_PROXY, '10.0.0.5');
  for (const ok of ['10.0.0.0/8, 192.168.2.1', 'loopback', '2001:db8::/32', '10.0.0.0/255.0.0.0']) assert.equal(loadApiConfig({ ...env, PGW_TRUST_PROXY: ok }).PGW_TRUST_PROXY, ok);
  // Refused at start naming the variable; express threw 'invalid IP address' later, after the api had connected and made the first admin.
  for (const bad of ['yes', 'abc', '10.0.0.0/33', '2001:db8::/200', '10.0.0.1,,']) {
    assert.throws(() => loadApiConfig({ ...env, PGW_TRUST_PROXY: bad }), /^ConfigError: PGW_TRUST_PROXY: must be false or comma-separated addresses/, bad);
  }
});

test('PGW_API_HOSTNAMES: names only, normalized; an address, a port or a wildcard is refused naming the variable', () => {
  assert.deepEqual(loadApiConfig(env).PGW_API_HOSTNAMES, []);
  assert.deepEqual(loadApiConfig({ ...env, PGW_API_HOSTNAMES: 'Console.Example.net., pgw.lan' }).PGW_API_HOSTNAMES, ['console.example.net', 'pgw.lan']);
  for (const [bad, reason] of [['192.168.2.1', /is an IP address/], ['pgw.example.net:8080', /no port/], ['*.example.net', /no wildcard/], ['localhost', /always served/]] as const) {
    assert.throws(() => loadApiConfig({ ...env, PGW_API_HOSTNAMES: bad }), (error: Error) => /PGW_API_HOSTNAMES/.test(error.message) && reason.test(error.message), bad);
  }
});

test('the api seals with the public key alone: PGW_SECRET_KEY in its environment is refused, a bad public key named', () => {
  assert.deepEqual(loadApiConfig(env).PGW_SECRET_PUBLIC_KEY, sealingPublicKey(secretKey));
  // The key that opens every stored proxy password has no business in the service facing the console.
  assert.throws(
    () => loadApiConfig({ ...env, PGW_SECRET_KEY: secretKey.toString('hex') }),
    (error: Error) => /^ConfigError: PGW_SECRET_KEY: must not be given to the api/.test(String(error)) && error.message.includes('PGW_SECRET_PUBLIC_KEY') && !error.message.includes(secretKey.toString('hex')),
  );
  const { PGW_SECRET_PUBLIC_KEY: _, ...without } = env;
  assert.throws(() => loadApiConfig(without), /PGW_SECRET_PUBLIC_KEY/);
  for (const bad of ['abc', randomBytes(31).toString('base64'), Buffer.alloc(32).toString('base64'), secretKey.toString('hex')]) {
    assert.throws(() => loadApiConfig({ ...env, PGW_SECRET_PUBLIC_KEY: bad }), /^ConfigError: PGW_SECRET_PUBLIC_KEY: /, bad);
  }
});
