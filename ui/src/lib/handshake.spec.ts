import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handshakeLabel } from './handshake.js';

describe('handshakeLabel', () => {
  it('shows the forced mode, the learned one, or learning, and nothing for HTTP CONNECT', () => {
    assert.equal(handshakeLabel({ protocol: 'socks5', handshakeMode: 'auto', handshakeLearned: 'pipelined' }), 'pipelined (learned)');
    assert.equal(handshakeLabel({ protocol: 'socks5', handshakeMode: 'auto', handshakeLearned: 'sequential' }), 'sequential (learned)');
    assert.equal(handshakeLabel({ protocol: 'socks5', handshakeMode: 'auto', handshakeLearned: 'early-data' }), 'early-data (learned)');
    assert.equal(handshakeLabel({ protocol: 'socks5', handshakeMode: 'early-data', handshakeLearned: null }), 'early-data (set)');
    assert.equal(handshakeLabel({ protocol: 'socks5', handshakeMode: 'auto', handshakeLearned: null }), 'learning (sequential meanwhile)');
    assert.equal(handshakeLabel({ protocol: 'socks5', handshakeMode: 'sequential', handshakeLearned: null }), 'sequential (set)');
    assert.equal(handshakeLabel({ protocol: 'http', handshakeMode: 'auto', handshakeLearned: null }), '—');
  });
});
