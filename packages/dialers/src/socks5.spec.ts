import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProxyEndpoint } from '@pgw/domain';
import { Socks5Dialer } from './socks5.js';

const PROXY: ProxyEndpoint = { protocol: 'socks5', host: '198.51.100.1', port: 1080 as ProxyEndpoint['port'], username: 'u', password: 'p' };
const TARGET = { host: '203.0.113.10', port: 80 };
const CONNECT = [5, 1, 0, 1, 203, 0, 113, 10, 0, 80];
const EARLY = Buffer.from('GET / HTTP/1.0\r\n\r\n');

function requests(options: Omit<Parameters<Socks5Dialer['plan']>[2], 'timeoutMs'>, onWarm = false): number[][] {
  return new Socks5Dialer().plan(PROXY, TARGET, { timeoutMs: 1_000, ...options }, onWarm).stages.map((stage) => [...(stage.request ?? [])]);
}

describe('Socks5Dialer early data', () => {
  it('goes right after the CONNECT, in the pipelined write and in the sequential one', () => {
    const greetingAndAuth = [5, 1, 2, 1, 1, 0x75, 1, 0x70];
    assert.deepEqual(requests({ handshake: 'early-data', earlyData: EARLY }), [[...greetingAndAuth, ...CONNECT, ...EARLY], [], []]);
    assert.deepEqual(requests({ handshake: 'pipelined', earlyData: EARLY }), [[...greetingAndAuth, ...CONNECT, ...EARLY], [], []]);
    assert.deepEqual(requests({ handshake: 'sequential', earlyData: EARLY }), [[5, 1, 2], [1, 1, 0x75, 1, 0x70], [...CONNECT, ...EARLY]]);
  });

  it('is not sent unless given: early-data alone is the pipelined handshake', () => {
    assert.deepEqual(requests({ handshake: 'early-data' }), requests({ handshake: 'pipelined' }));
    assert.deepEqual(requests({ handshake: 'early-data', earlyData: Buffer.alloc(0) }), requests({ handshake: 'pipelined' }));
  });
});

describe('ProxyDialer plans', () => {
  it('are kept per proxy, handshake and target, and built anew for anything else', () => {
    const dialer = new Socks5Dialer();
    const options = { timeoutMs: 1_000, handshake: 'pipelined' as const };
    const warm = dialer.plan(PROXY, TARGET, options, true);
    assert.equal(dialer.plan(PROXY, { ...TARGET }, options, true), warm, 'the same target again: the same plan');
    assert.deepEqual(warm.stages.map((stage) => [...(stage.request ?? [])]), [CONNECT]);
    const cold = dialer.plan(PROXY, TARGET, options, false);
    assert.notEqual(cold, warm, 'a new connection has the greeting too');
    assert.equal(dialer.plan(PROXY, TARGET, options, false), cold);
    assert.notEqual(dialer.plan(PROXY, TARGET, { ...options, handshake: 'sequential' }, false), cold, 'another handshake');
    const other = dialer.plan(PROXY, { host: '203.0.113.11', port: 80 }, options, true);
    assert.deepEqual(other.stages.map((stage) => [...(stage.request ?? [])]), [[5, 1, 0, 1, 203, 0, 113, 11, 0, 80]]);
    assert.notEqual(dialer.plan(PROXY, { ...TARGET, port: 443 }, options, true), warm, 'another port');
    // New credentials come as a new endpoint object (the forwarder's routes): their own plans.
    assert.notEqual(dialer.plan({ ...PROXY, password: 'q' }, TARGET, options, true), warm);
    const open = dialer.openPlan(PROXY, options);
    assert.equal(dialer.openPlan(PROXY, options), open, "a warm connection's open: one plan per handshake");
    assert.deepEqual(open.stages.map((stage) => [...(stage.request ?? [])]), [[5, 1, 2, 1, 1, 0x75, 1, 0x70], []]);
    assert.notEqual(dialer.openPlan(PROXY, { ...options, handshake: 'sequential' }), open);
    // Early data belongs to one dial.
    const early = { ...options, earlyData: EARLY };
    assert.notEqual(dialer.plan(PROXY, TARGET, early, false), dialer.plan(PROXY, TARGET, early, false));
  });

  it('a target refused is refused every time, never kept', () => {
    const dialer = new Socks5Dialer();
    const bad = { host: 'bad host', port: 80 };
    for (let i = 0; i < 2; i++) assert.throws(() => dialer.plan(PROXY, bad, { timeoutMs: 1_000 }, true), { reason: 'invalid_request' });
  });
});
