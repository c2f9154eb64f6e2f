import assert from 'node:assert/strict';
import { test } from 'node:test';
import jwt from 'jsonwebtoken';
import { TokenIssuer } from './tokens.js';

const secret = '3f6c1d9a8b7e4c2f0a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a';

test('issued tokens verify and carry user, version and a unique jti', () => {
  const issuer = new TokenIssuer(secret, 60);
  const a = issuer.issue(3, 5);
  const b = issuer.issue(3, 5);
  assert.notEqual(a.claims.jti, b.claims.jti);
  assert.deepEqual(issuer.verify(a.token), a.claims);
});

test('foreign, unsigned, other-algorithm and expired tokens are refused', () => {
  const issuer = new TokenIssuer(secret, 60);
  assert.equal(issuer.verify(new TokenIssuer(`${secret}x`, 60).issue(1, 0).token), null);
  assert.equal(issuer.verify(jwt.sign({ ver: 0 }, '', { algorithm: 'none', subject: '1', jwtid: 'x' })), null);
  assert.equal(issuer.verify(jwt.sign({ ver: 0 }, secret, { algorithm: 'HS512', subject: '1', jwtid: 'x', expiresIn: 60 })), null);
  assert.equal(issuer.verify(jwt.sign({ ver: 0, exp: Math.floor(Date.now() / 1000) - 10 }, secret, { algorithm: 'HS256', subject: '1', jwtid: 'x' })), null);
  assert.equal(issuer.verify('not.a.token'), null);
});
