import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { udpDropLabel, udpDropTitle, udpSupportLabel } from './udp.js';

describe('udpSupportLabel', () => {
  it('shows what the probe learned, an HTTP proxy as such, or learning', () => {
    assert.equal(udpSupportLabel({ protocol: 'socks5', udpSupport: 'supported' }), 'yes (UDP ASSOCIATE)');
    assert.equal(udpSupportLabel({ protocol: 'socks5', udpSupport: 'unsupported' }), 'no (refused UDP ASSOCIATE)');
    assert.equal(udpSupportLabel({ protocol: 'http', udpSupport: 'unsupported' }), 'no (HTTP proxy)');
    assert.equal(udpSupportLabel({ protocol: 'socks5', udpSupport: null }), 'learning');
  });
});

describe('udpDropLabel', () => {
  it('names the reason in words with the count; unknown reasons as sent, destination refusals by class', () => {
    assert.deepEqual(udpDropLabel({ reason: 'proxy_without_udp', detail: 'http proxies carry no UDP', datagrams: 2 }), { tone: 'warn', text: 'UDP dropped: HTTP proxy carries no UDP (2)' });
    assert.equal(udpDropLabel({ reason: 'associate_failed', detail: 'command not supported', datagrams: 1 }).text, 'UDP dropped: proxy refused or failed UDP ASSOCIATE (1)');
    assert.equal(udpDropLabel({ reason: 'destination_link_local', detail: '', datagrams: 5 }).text, 'UDP dropped: destination refused (link local) (5)');
    assert.equal(udpDropLabel({ reason: 'proxy_lan', detail: '', datagrams: 1 }).text, 'UDP dropped: proxy or its UDP relay refused (lan) (1)');
    assert.equal(udpDropLabel({ reason: 'something_new', detail: '', datagrams: 1 }).text, 'UDP dropped: something new (1)');
  });

  it('says whose destination limit was hit (the client’s 1024 reply sockets or the gateway’s), and the DNS reasons in words', () => {
    assert.equal(udpDropLabel({ reason: 'limit_destinations', detail: '', datagrams: 1 }).text, 'UDP dropped: client’s destination limit reached (1)');
    assert.equal(udpDropLabel({ reason: 'limit_destinations_total', detail: '', datagrams: 1 }).text, 'UDP dropped: gateway’s destination limit reached (1)');
    assert.equal(udpDropLabel({ reason: 'dns_timeout', detail: '', datagrams: 3 }).text, 'UDP dropped: no DNS answer through the proxy in time (3)');
    assert.equal(udpDropLabel({ reason: 'dns_tunnel_failed', detail: '', datagrams: 1 }).text, 'UDP dropped: DNS through the proxy failed (1)');
  });
});

describe('udpDropTitle', () => {
  it('adds what the forwarder said, when it said something', () => {
    assert.equal(udpDropTitle({ reason: 'associate_failed', detail: 'SOCKS5 reply: command not supported', datagrams: 1 }), 'proxy refused or failed UDP ASSOCIATE: SOCKS5 reply: command not supported');
    assert.equal(udpDropTitle({ reason: 'queue_full', detail: '', datagrams: 1 }), 'queue full while the association opened');
  });
});
