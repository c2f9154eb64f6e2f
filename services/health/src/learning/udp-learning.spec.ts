import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePort, type ProxyEndpoint } from '@pgw/domain';
import { DialError } from '@pgw/dialers';
import { checkUdpSupport, type OpenAssociation, UDP_RELEARN_MS, udpCheckDue } from './udp-learning.js';

const SOCKS: ProxyEndpoint = { protocol: 'socks5', host: '198.51.100.10', port: parsePort(1080) };
const OPTIONS = { timeoutMs: 2000, handshake: 'sequential' as const, checkProxyAddress: () => null };

describe('udpCheckDue', () => {
  it('asks when never asked for this endpoint, and again once the relearn interval has passed', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    assert.equal(udpCheckDue(null, now), true);
    assert.equal(udpCheckDue(new Date(now - 1000), now), false);
    assert.equal(udpCheckDue(new Date(now - UDP_RELEARN_MS + 1), now), false);
    assert.equal(udpCheckDue(new Date(now - UDP_RELEARN_MS), now), true);
    assert.equal(UDP_RELEARN_MS, 600_000);
  });
});

describe('checkUdpSupport', () => {
  it('supported: the association opened, and is closed at once; the forwarder’s handshake and the address check are used', async () => {
    let closed = 0;
    let seen: unknown;
    const open: OpenAssociation = async (proxy, options) => {
      seen = { host: proxy.host, handshake: options.handshake, timeoutMs: options.timeoutMs, check: typeof options.checkProxyAddress };
      return { close: () => void closed++ };
    };
    assert.deepEqual(await checkUdpSupport(SOCKS, OPTIONS, open), { support: 'supported', error: null });
    assert.equal(closed, 1);
    assert.deepEqual(seen, { host: '198.51.100.10', handshake: 'sequential', timeoutMs: 2000, check: 'function' });
  });

  it('unsupported: the proxy refused the command', async () => {
    const open: OpenAssociation = async () => {
      throw new DialError('proxy_refused', 'SOCKS5 proxy refused: command not supported');
    };
    assert.deepEqual(await checkUdpSupport(SOCKS, OPTIONS, open), { support: 'unsupported', error: 'SOCKS5 proxy refused: command not supported' });
  });

  it('unsupported: its rules refuse the ASSOCIATE (SOCKS5 reply 2, a dante without a udpassociate rule)', async () => {
    const open: OpenAssociation = async () => {
      throw new DialError('target_refused', 'connection not allowed by ruleset (SOCKS5 reply 2)');
    };
    assert.deepEqual(await checkUdpSupport(SOCKS, OPTIONS, open), { support: 'unsupported', error: 'connection not allowed by ruleset (SOCKS5 reply 2)' });
  });

  it('an HTTP CONNECT proxy is unsupported without asking', async () => {
    const open: OpenAssociation = async () => assert.fail('an HTTP proxy is not asked');
    assert.deepEqual(await checkUdpSupport({ ...SOCKS, protocol: 'http', port: parsePort(3128) }, OPTIONS, open), { support: 'unsupported', error: null });
  });

  it('anything else says nothing about UDP: unreachable, auth failed, silent, malformed', async () => {
    for (const error of [new DialError('connect_refused', 'refused'), new DialError('auth_failed', 'bad password'), new DialError('connect_timeout', 'unanswered'), new DialError('protocol_error', 'relay port 0'), new Error('EMFILE')]) {
      const open: OpenAssociation = async () => {
        throw error;
      };
      assert.deepEqual(await checkUdpSupport(SOCKS, OPTIONS, open), { support: null, error: error.message });
    }
  });
});
