import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dnsUpstreamProblem, parseDnsUpstream, readDnsUpstream } from './dns-upstream.js';
import { DEFAULT_SETTINGS, settingsSchema } from './settings.js';

describe('dnsUpstream: the resolver clients are sent to through their proxy', () => {
  it('an address, with port 53 unless one is given', () => {
    assert.deepEqual(parseDnsUpstream('203.0.113.53'), { ip: '203.0.113.53', port: 53 });
    assert.deepEqual(parseDnsUpstream('203.0.113.53:5353'), { ip: '203.0.113.53', port: 5353 });
  });

  it('refuses what is not an IPv4 address with an optional port', () => {
    for (const text of ['', 'dns.example', '203.0.113.053', '203.0.113.53:', '[::1]:53', '203.0.113.53:53:53', '2001:db8::53']) {
      assert.ok('problem' in readDnsUpstream(text), text);
    }
    assert.deepEqual(readDnsUpstream('203.0.113.53:0'), { problem: 'port 0 must be between 1 and 65535' });
    assert.deepEqual(readDnsUpstream('203.0.113.53:70000'), { problem: 'port 70000 must be between 1 and 65535' });
  });

  it('refuses addresses no proxy can be asked for: unspecified, loopback, link-local, multicast, broadcast, the LAN', () => {
    const lan = '192.168.2.0/24';
    assert.match(dnsUpstreamProblem('0.0.0.0', lan)!, /unspecified/);
    assert.match(dnsUpstreamProblem('127.0.0.53', lan)!, /loopback/);
    assert.match(dnsUpstreamProblem('169.254.169.254', lan)!, /link-local/);
    assert.match(dnsUpstreamProblem('224.0.0.251:5353', lan)!, /multicast/);
    assert.match(dnsUpstreamProblem('255.255.255.255', lan)!, /broadcast/);
    assert.match(dnsUpstreamProblem('192.168.2.1', lan)!, /LAN prefix/);
    assert.equal(dnsUpstreamProblem('203.0.113.53', lan), null);
    assert.equal(dnsUpstreamProblem('10.0.0.53', lan), null, 'private: the destination guard decides per client');
  });

  it('the settings schema names dnsUpstream, and keeps null and absent valid', () => {
    const bad = settingsSchema.safeParse({ ...DEFAULT_SETTINGS, dnsUpstream: '192.168.2.1' });
    assert.deepEqual(bad.error?.issues.map((i) => i.path), [['dnsUpstream']]);
    assert.match(bad.error!.issues[0]!.message, /192\.168\.2\.1 is inside the LAN prefix/);
    // The LAN prefix of the same change decides.
    assert.equal(settingsSchema.safeParse({ ...DEFAULT_SETTINGS, lanCidr: '10.0.0.0/8', dnsUpstream: '192.168.2.1' }).success, true);
    assert.equal(settingsSchema.safeParse({ ...DEFAULT_SETTINGS, dnsUpstream: null }).success, true);
    assert.equal(settingsSchema.safeParse({ ...DEFAULT_SETTINGS }).success, true);
    assert.equal(settingsSchema.parse({ ...DEFAULT_SETTINGS, dnsUpstream: '203.0.113.53:53' }).dnsUpstream, '203.0.113.53:53');
  });
});
