import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainHttpExposure } from './plain-http.js';

describe('plainHttpExposure', () => {
  it('says nothing for loopback, for TLS, or behind a trusted TLS proxy', () => {
    for (const address of ['127.0.0.1', '127.0.0.53', '::1', '::ffff:127.0.0.1']) assert.equal(plainHttpExposure(address, false, false), null, address);
    assert.equal(plainHttpExposure('0.0.0.0', true, false), null);
    assert.equal(plainHttpExposure('192.168.2.1', false, '192.168.2.5'), null);
  });

  it('names the address and what to set for plain HTTP anywhere else', () => {
    assert.match(plainHttpExposure('192.168.2.1', false, false)!, /plain HTTP on 192\.168\.2\.1: .*PGW_TLS_CERT_FILE and PGW_TLS_KEY_FILE/);
    for (const any of ['0.0.0.0', '::']) assert.match(plainHttpExposure(any, false, false)!, /on every address of this host/);
    assert.match(plainHttpExposure('fd00::1', false, false)!, /on fd00::1/);
  });
});
