import assert from 'node:assert/strict';
import { test } from 'node:test';
import jwt from 'jsonwebtoken';
import { DeviceCookies } from './device-cookies.js';
import { TokenIssuer } from './tokens.js';

const SECRET = 'a-jwt-secret-of-the-test-that-is-long-enough-0123456789';

test('a cookie names its device for its own user only, whatever the case of the name typed', () => {
  const devices = new DeviceCookies(SECRET);
  const cookie = devices.issue('Admin');
  const id = devices.deviceOf(cookie, 'admin');
  assert.match(id ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(devices.deviceOf(cookie, 'ADMIN'), id);
  assert.equal(devices.deviceOf(cookie, 'operator'), null);
  assert.notEqual(devices.deviceOf(devices.issue('admin'), 'admin'), id, 'each login a new device id');
});

test('refuses what it did not sign for this purpose: another secret, a session token, a tampered or expired cookie, junk', () => {
  const devices = new DeviceCookies(SECRET);
  const cookie = devices.issue('admin');
  assert.equal(new DeviceCookies(`${SECRET}-other`).deviceOf(cookie, 'admin'), null);
  // The session tokens' key is the secret itself: a device cookie's key is derived from it apart.
  const session = new TokenIssuer(SECRET, 3600).issue(1, 0).token;
  assert.equal(devices.deviceOf(session, 'admin'), null);
  assert.equal(new TokenIssuer(SECRET, 3600).verify(cookie), null, 'nor is a device cookie a session token');
  const [head, body, signature] = cookie.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), usr: 'root' })).toString('base64url');
  assert.equal(devices.deviceOf(`${head}.${forged}.${signature}`, 'root'), null);
  assert.equal(devices.deviceOf(jwt.sign({ dev: '00000000-0000-4000-8000-000000000000', usr: 'admin' }, 'x', { algorithm: 'HS256', audience: 'pgw-device' }), 'admin'), null);
  for (const junk of [undefined, '', 'x'.repeat(2000), 42, {}]) assert.equal(devices.deviceOf(junk, 'admin'), null);
});
