import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainHttpExposure } from './plain-http.js';

const PLAIN = { tls: false, trustProxy: false, publishedOnLoopback: false } as const;

describe('plainHttpExposure', () => {
  it('says nothing for loopback, for TLS, or behind a trusted TLS proxy', () => {
    for (const address of ['127.0.0.1', '127.0.0.53', '::1', '::ffff:127.0.0.1']) assert.equal(plainHttpExposure(address, PLAIN), null, address);
    assert.equal(plainHttpExposure('0.0.0.0', { ...PLAIN, tls: true }), null);
    assert.equal(plainHttpExposure('192.168.2.1', { ...PLAIN, trustProxy: '192.168.2.5' }), null);
    assert.equal(plainHttpExposure('0.0.0.0', { ...PLAIN, publishedOnLoopback: true }), null, 'the shipped docker-compose.yml');
  });

  it('names the address and what to set for plain HTTP anywhere else', () => {
    assert.match(plainHttpExposure('192.168.2.1', PLAIN)!, /plain HTTP on 192\.168\.2\.1: .*PGW_TLS_CERT_FILE and PGW_TLS_KEY_FILE/);
    for (const any of ['0.0.0.0', '::']) assert.match(plainHttpExposure(any, PLAIN)!, /on every address of this host/);
    assert.match(plainHttpExposure('fd00::1', PLAIN)!, /on fd00::1/);
  });
});
