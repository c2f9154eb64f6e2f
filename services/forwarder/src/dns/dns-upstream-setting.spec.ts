import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DnsUpstreamSetting } from './dns-upstream-setting.js';

describe('DnsUpstreamSetting', () => {
  it('DNS to any address goes to the upstream with dnsMode proxy; other ports go where they were going', () => {
    const setting = new DnsUpstreamSetting();
    setting.configure({ dnsMode: 'proxy', dnsUpstream: '203.0.113.53:5353' });
    assert.deepEqual(setting.target('203.0.113.99', 53), { ip: '203.0.113.53', port: 5353 });
    assert.deepEqual(setting.target('203.0.113.99', 443), { ip: '203.0.113.99', port: 443 });
  });

  it('no upstream, or dnsMode drop: the resolver the client asked', () => {
    const setting = new DnsUpstreamSetting();
    assert.deepEqual(setting.target('203.0.113.99', 53), { ip: '203.0.113.99', port: 53 });
    setting.configure({ dnsMode: 'drop', dnsUpstream: '203.0.113.53' });
    assert.equal(setting.current, null);
    setting.configure({ dnsMode: 'proxy', dnsUpstream: '203.0.113.53' });
    assert.deepEqual(setting.current, { ip: '203.0.113.53', port: 53 });
    setting.configure({ dnsMode: 'proxy', dnsUpstream: null });
    assert.deepEqual(setting.target('203.0.113.99', 53), { ip: '203.0.113.99', port: 53 });
  });
});
