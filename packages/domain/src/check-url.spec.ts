import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkUrlProblem } from './check-url.js';

describe('checkUrlProblem', () => {
  it('takes http(s) URLs of a hostname, an IPv4 or an IPv6 address', () => {
    for (const url of ['http://check.example/ip', 'https://check_1.example.:8443/ip?x=1', 'http://203.0.113.10/ip', 'http://[2001:db8::10]/ip']) assert.equal(checkUrlProblem(url), null, url);
  });

  it('names a host the dialers refuse, and embedded credentials, without echoing the password', () => {
    assert.match(checkUrlProblem('http://a..b/ip')!, /host "a\.\.b" is not an IP address or a hostname/);
    assert.match(checkUrlProblem('http://-x.example/ip')!, /host "-x\.example"/);
    assert.match(checkUrlProblem('http://a*b.example/ip')!, /host "a\*b\.example"/);
    for (const url of ['http://u:topsecret@203.0.113.10/ip', 'http://u@203.0.113.10/ip', 'http://:topsecret@203.0.113.10/ip']) {
      const problem = checkUrlProblem(url)!;
      assert.match(problem, /username or password/, url);
      assert.ok(!problem.includes('topsecret'), problem);
    }
  });
});
