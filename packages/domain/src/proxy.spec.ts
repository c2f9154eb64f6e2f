import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentialProblem, endpointLabel, parseProxyUrl, proxyNameProblem, redactUrl } from './proxy.js';

describe('parseProxyUrl', () => {
  it('parses socks5 with credentials', () => {
    assert.deepEqual(parseProxyUrl('socks5://alice:s%40cret@198.51.100.10:1080'), {
      protocol: 'socks5',
      host: '198.51.100.10',
      port: 1080,
      username: 'alice',
      password: 's@cret',
    });
  });
  it('parses http without credentials', () => {
    const endpoint = parseProxyUrl('http://proxy.example.net:3128');
    assert.equal(endpointLabel(endpoint), 'http://proxy.example.net:3128');
    assert.equal(endpoint.username, undefined);
  });
  it('names what is wrong', () => {
    assert.throws(() => parseProxyUrl('ftp://h:1'), /scheme "ftp" is not supported/);
    assert.throws(() => parseProxyUrl('socks5://h'), /must name a port/);
    assert.throws(() => parseProxyUrl('http://h:1/path'), /must not have a path/);
    assert.throws(() => parseProxyUrl('not a url'), /is not a URL/);
    assert.throws(() => parseProxyUrl('http://h:70000'), /not a URL|port/);
    assert.throws(() => parseProxyUrl('socks5://:pw@h:1080'), /a password needs a username/);
  });
  it('never echoes a password in its errors', () => {
    assert.throws(() => parseProxyUrl('socks5://u:topsecret@'), (error: Error) => !error.message.includes('topsecret'));
    assert.equal(redactUrl('socks5://u:topsecret@h:1'), 'socks5://u:***@h:1');
  });
  it('never echoes a password that breaks the URL apart (a "/", "?", "#" or "@" in it, or in the user)', () => {
    for (const url of ['socks5://user:pa/ss@host:1080', 'http://user:pa?ss@host:1080', 'socks5://user:pa#ss@host:1080', 'socks5://us/er:pass@wd@host:1080', 'socks5://user:p@ss/word@host:1080']) {
      assert.throws(() => parseProxyUrl(url), (error: Error) => !/pa.?ss|pass@wd|ss\/word/.test(error.message), url);
    }
    assert.equal(redactUrl('socks5://user:pa/ss@host:1080'), 'socks5://user:***@host:1080');
    assert.equal(redactUrl('socks5://us/er:pass@host:1080'), 'socks5://***@host:1080', 'a user part the parser would cut is hidden too');
  });
  it('never echoes a password of a URL spelled without "//" (http: takes "http:u:p@h", "http:/u:p@h", "http:\\u:p@h")', () => {
    for (const url of ['http:alice:S3cretPw@bad host:3128', 'http:/alice:S3cretPw@bad host:3128', 'http:\\\\alice:S3cretPw@bad host:3128', 'alice:S3cretPw@bad host:3128', 'socks5:alice:S3cretPw@bad host:1080']) {
      assert.throws(() => parseProxyUrl(url), (error: Error) => !error.message.includes('S3cretPw'), url);
      assert.ok(!redactUrl(url).includes('S3cretPw'), redactUrl(url));
    }
    assert.equal(redactUrl('http:alice:S3cretPw@h:1'), 'http:alice:***@h:1');
  });
});

describe('credentialProblem', () => {
  it('names what a protocol cannot carry: ":" in an HTTP user, more than 255 UTF-8 bytes in SOCKS5', () => {
    assert.equal(credentialProblem('http', 'a:b', 'pw')?.field, 'username');
    assert.equal(credentialProblem('socks5', 'a:b', 'pw'), null, 'SOCKS5 carries ":"');
    assert.equal(credentialProblem('socks5', 'é'.repeat(128), null)?.field, 'username', '256 bytes in 128 characters');
    assert.equal(credentialProblem('socks5', 'u', 'p'.repeat(256))?.field, 'password');
    assert.equal(credentialProblem('socks5', 'u'.repeat(255), 'é'.repeat(127)), null);
    assert.equal(credentialProblem('http', null, undefined), null);
  });
});

it('proxyNameProblem: a space at either end or a control character is refused; spaces inside and any letter are names', () => {
  for (const bad of ['office ', ' office', ' ', 'off\nice', 'off\tice', 'office\u007f', 'a\u0000']) assert.notEqual(proxyNameProblem(bad), null, JSON.stringify(bad));
  for (const good of ['office', 'office 2', 'Zürich · dante', 'a']) assert.equal(proxyNameProblem(good), null, good);
});
