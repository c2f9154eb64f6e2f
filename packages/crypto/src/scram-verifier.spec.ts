import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scramSha256Verifier } from './scram-verifier.js';

test('the verifier of RFC 7677\'s example (user "user", password "pencil"): its server key signs the exchange as the RFC shows', async () => {
  const { createHmac } = await import('node:crypto');
  const verifier = scramSha256Verifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
  const [, serverKey] = verifier.split('$')[2]!.split(':');
  const authMessage = 'n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const signature = createHmac('sha256', Buffer.from(serverKey!, 'base64')).update(authMessage).digest('base64');
  assert.equal(signature, '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  assert.match(verifier, /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
});

test('a fresh salt each time; a password that is not printable ASCII is refused', () => {
  assert.notEqual(scramSha256Verifier('a-long-service-password'), scramSha256Verifier('a-long-service-password'));
  assert.throws(() => scramSha256Verifier('pässwörd-long-enough'), /printable ASCII/);
});
