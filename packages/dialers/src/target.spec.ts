import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DialError } from './dial-error.js';
import { checkTarget, formatHostPort } from './target.js';

function invalid(host: string, port: number, message: RegExp): void {
  assert.throws(
    () => checkTarget({ host, port }),
    (error: unknown) => error instanceof DialError && error.reason === 'invalid_request' && message.test(error.message),
  );
}

describe('checkTarget', () => {
  it('accepts IP literals and hostnames', () => {
    for (const host of ['203.0.113.5', '2001:db8::5', '::ffff:192.0.2.1', 'example.com', 'a_b.example.', 'localhost']) {
      assert.doesNotThrow(() => checkTarget({ host, port: 443 }), host);
    }
  });

  it('rejects anything that could smuggle protocol bytes to the proxy', () => {
    invalid('example.com\r\nX-Evil: 1', 80, /is not an IP address or hostname/);
    invalid('example.com 80', 80, /is not an IP address or hostname/);
    invalid('host:80', 80, /is not an IP address or hostname/);
    invalid('-bad.example', 80, /is not an IP address or hostname/);
    invalid('a'.repeat(254), 80, /is not an IP address or hostname/);
    invalid('', 80, /target host is empty/);
    invalid('fe80::1%eth0', 80, /IPv6 zone/);
  });

  it('rejects ports outside 1-65535', () => {
    for (const port of [0, 65536, 1.5, Number.NaN]) invalid('example.com', port, /target port .* is not an integer between 1 and 65535/);
  });
});

describe('formatHostPort', () => {
  it('brackets IPv6 only', () => {
    assert.equal(formatHostPort('2001:db8::1', 443), '[2001:db8::1]:443');
    assert.equal(formatHostPort('203.0.113.5', 80), '203.0.113.5:80');
    assert.equal(formatHostPort('example.com', 80), 'example.com:80');
  });
});
