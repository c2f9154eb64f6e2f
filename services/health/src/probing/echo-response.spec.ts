import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEchoBody } from './echo-response.js';

describe('parseEchoBody', () => {
  it('reads {"ip":...} JSON', () => {
    assert.equal(parseEchoBody('{"ip":"203.0.113.7"}'), '203.0.113.7');
    assert.equal(parseEchoBody(' {"ip": "2001:db8::1", "country": "XX"}\n'), '2001:db8::1');
  });

  it('reads a plain-text address with surrounding whitespace', () => {
    assert.equal(parseEchoBody('198.51.100.23\n'), '198.51.100.23');
  });

  it('rejects what no exit address can be: a zone, an unspecified, multicast or reserved address', () => {
    // A zone cannot be stored (Postgres inet has none): the probe's whole record was refused.
    for (const answer of ['fe80::1%eth0', `2001:db8::1%${'z'.repeat(300)}`, '0.0.0.0', '::', '224.0.0.1', 'ff02::1', '255.255.255.255', '240.0.0.1', '::ffff:0.0.0.0', '::ffff:224.0.0.1']) {
      assert.throws(() => parseEchoBody(answer), /not an exit address|not an IP address/, answer);
      assert.throws(() => parseEchoBody(`{"ip":"${answer}"}`), /not an exit address|not an IP address/, answer);
    }
    assert.throws(() => parseEchoBody('224.0.0.1'), /answered 224\.0\.0\.1, which is not an exit address \(multicast\)/);
    // A private exit (a proxy chain inside a network), a check URL on the proxy's own host or link.
    for (const exit of ['10.1.2.3', '127.62.1.2', 'fe80::1']) assert.equal(parseEchoBody(exit), exit);
  });

  it('rejects JSON without an ip field, naming the problem', () => {
    assert.throws(() => parseEchoBody('{"origin":"1.2.3.4"}'), /without an "ip" field/);
  });

  it('rejects an ip field that is not an address', () => {
    assert.throws(() => parseEchoBody('{"ip":"localhost"}'), /not an IP address.*localhost/);
    assert.throws(() => parseEchoBody('{"ip":42}'), /not an IP address/);
  });

  it('rejects broken JSON and HTML error pages with a printable excerpt', () => {
    assert.throws(() => parseEchoBody('{"ip":'), /invalid JSON/);
    const page = `<html><body>429 Too Many Requests\u0000${'x'.repeat(200)}</body></html>`;
    assert.throws(
      () => parseEchoBody(page),
      (error: Error) => /not an IP address/.test(error.message) && error.message.includes('429 Too Many Requests?') && error.message.length < 200,
    );
  });

  it('rejects an empty body', () => {
    assert.throws(() => parseEchoBody('  \n'), /not an IP address/);
  });
});
