import assert from 'node:assert/strict';
import { test } from 'node:test';
import jwt from 'jsonwebtoken';
import { DeviceCookies, deviceMatches } from './device-cookies.js';
import { TokenIssuer } from './tokens.js';

const SECRET = 'a-jwt-secret-of-the-test-that-is-long-enough-0123456789';
const ADMIN = { id: 1, username: 'Admin', tokenVersion: 3 };

test('a cookie names its device and the user as it was, for its own username only, whatever the case typed', () => {
  const devices = new DeviceCookies(SECRET);
  const cookie = devices.issue(ADMIN);
  const claims = devices.claimsOf(cookie, 'admin');
  assert.match(claims?.deviceId ?? '', /^[0-9a-f-]{36}$/);
  assert.deepEqual({ ...claims, deviceId: 'x' }, { deviceId: 'x', userId: 1, tokenVersion: 3 });
  assert.deepEqual(devices.claimsOf(cookie, 'ADMIN'), claims);
  assert.equal(devices.claimsOf(cookie, 'operator'), null);
  assert.notEqual(devices.claimsOf(devices.issue(ADMIN), 'admin')?.deviceId, claims?.deviceId, 'each login a new device id');
});

test('the user row must still be the one the cookie was issued to: a password change or a user made again under the name ends it', () => {
  const claims = new DeviceCookies(SECRET).claimsOf(new DeviceCookies(SECRET).issue(ADMIN), 'admin')!;
  assert.equal(deviceMatches(claims, { id: 1, tokenVersion: 3 }), true);
  assert.equal(deviceMatches(claims, { id: 1, tokenVersion: 4 }), false, 'password changed since');
  assert.equal(deviceMatches(claims, { id: 9, tokenVersion: 3 }), false, 'deleted and made again');
  assert.equal(deviceMatches(claims, undefined), false, 'deleted');
});

test('refuses what it did not sign for this purpose: another secret, a session token, a tampered or expired cookie, junk', () => {
  const devices = new DeviceCookies(SECRET);
  const cookie = devices.issue(ADMIN);
  assert.equal(new DeviceCookies(`${SECRET}-other`).claimsOf(cookie, 'admin'), null);
  // The session tokens' key is the secret itself: a device cookie's key is derived from it apart.
  const session = new TokenIssuer(SECRET, 3600).issue(1, 0).token;
  assert.equal(devices.claimsOf(session, 'admin'), null);
  assert.equal(new TokenIssuer(SECRET, 3600).verify(cookie), null, 'nor is a device cookie a session token');
  const [head, body, signature] = cookie.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), usr: 'root' })).toString('base64url');
  assert.equal(devices.claimsOf(`${head}.${forged}.${signature}`, 'root'), null);
  assert.equal(devices.claimsOf(jwt.sign({ dev: '00000000-0000-4000-8000-000000000000', usr: 'admin', uid: 1, ver: 3 }, 'x', { algorithm: 'HS256', audience: 'pgw-device' }), 'admin'), null);
  for (const junk of [undefined, '', 'x'.repeat(2000), 42, {}]) assert.equal(devices.claimsOf(junk, 'admin'), null);
});
