import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ClientFacts, clientCarries } from '../../scripts/demo/client-carries.js';

const DANTE: ClientFacts = { interceptMode: 'tproxy', dnsMode: 'proxy', exitIp: '198.51.100.10', udpSupport: 'supported', udpDropped: null, udpEcho: 'reply', whoami: '198.51.100.10' };
const HTTP: ClientFacts = { ...DANTE, exitIp: '198.51.100.12', udpSupport: 'unsupported', udpDropped: { reason: 'proxy_without_udp' }, udpEcho: 'none', whoami: null };

describe('clientCarries', () => {
  it('a dante client whose UDP echo came back and whose DNS was answered through the proxy: tcp, udp, dns via proxy', () => {
    assert.equal(clientCarries(DANTE), '(tproxy: tcp, udp, dns via proxy)');
  });

  it('a client whose UDP the forwarder drops says why; DNS answered through the proxy (over TCP) is said too', () => {
    assert.equal(clientCarries(HTTP), '(tproxy: tcp; udp dropped: http proxy)');
    assert.equal(clientCarries({ ...HTTP, whoami: '198.51.100.12' }), '(tproxy: tcp, dns via proxy; udp dropped: http proxy)');
    assert.equal(clientCarries({ ...HTTP, udpSupport: 'unsupported', udpDropped: { reason: 'associate_failed' } }), '(tproxy: tcp; udp dropped: proxy refused udp)');
    assert.equal(clientCarries({ ...HTTP, udpDropped: { reason: 'limit_client' } }), '(tproxy: tcp; udp dropped: limit client)');
  });

  it('claims nothing it did not see: no answer, an answer from elsewhere, not learned yet, no TCP', () => {
    assert.equal(clientCarries({ ...DANTE, whoami: null }), '(tproxy: tcp, udp; dns: no answer)');
    assert.equal(clientCarries({ ...DANTE, dnsMode: 'drop', whoami: null }), '(tproxy: tcp, udp; dns dropped (dnsMode drop))');
    assert.equal(clientCarries({ ...DANTE, whoami: '192.168.2.10' }), "(tproxy: tcp, udp; dns answered from 192.168.2.10, not the proxy's exit)");
    assert.equal(clientCarries({ ...DANTE, udpEcho: 'none', udpSupport: null, whoami: null }), '(tproxy: tcp; udp support not learned yet)');
    assert.equal(clientCarries({ ...DANTE, udpEcho: 'none', whoami: null }), '(tproxy: tcp; udp: no answer)');
    assert.equal(clientCarries({ ...DANTE, exitIp: null, udpEcho: 'none', whoami: null }), '(tproxy: tcp: no answer; udp: no answer)');
  });

  it('DNAT mode: TCP only, all UDP dropped in the kernel', () => {
    assert.equal(clientCarries({ ...DANTE, interceptMode: 'dnat' }), '(dnat: tcp; udp dropped)');
  });
});
