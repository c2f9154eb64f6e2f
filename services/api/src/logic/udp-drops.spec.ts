import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseForwarderStatus } from '@pgw/events';
import { udpDropsOf } from './udp-drops.js';

/** A forwarder record as it sits in Redis, read through the shared schema as the api does. */
const record = (udp: unknown) =>
  parseForwarderStatus(JSON.stringify({ at: '2026-12-01T12:00:00.000Z', activeConnections: 0, perMapping: {}, listeners: 3, ...(udp === undefined ? {} : { udp }) }));

describe('udpDropsOf', () => {
  const udp = {
    flows: 1,
    dropped: {
      '7': { reason: 'proxy_without_udp', detail: 'http proxies carry no UDP', datagrams: 3 },
      '9': { reason: 'associate_failed', detail: 'SOCKS5 proxy refused UDP ASSOCIATE: command not supported', datagrams: 1 },
    },
  };

  it('in TPROXY mode: per mapping id, the forwarder’s reason, detail and count', () => {
    const drops = udpDropsOf(record(udp), 'tproxy');
    assert.deepEqual([...drops], [
      [7, { reason: 'proxy_without_udp', detail: 'http proxies carry no UDP', datagrams: 3 }],
      [9, { reason: 'associate_failed', detail: 'SOCKS5 proxy refused UDP ASSOCIATE: command not supported', datagrams: 1 }],
    ]);
  });

  it('nothing in DNAT mode (the kernel drops all client UDP), without a record, or from a forwarder without the udp part', () => {
    assert.equal(udpDropsOf(record(udp), 'dnat').size, 0);
    assert.equal(udpDropsOf(null, 'tproxy').size, 0);
    assert.equal(udpDropsOf(record(undefined), 'tproxy').size, 0);
  });

  it('a key that is not a mapping id is skipped; a malformed udp part makes the whole record unknown (the shared schema)', () => {
    const drops = udpDropsOf(record({ flows: 0, dropped: { '07': udp.dropped['7'], x: udp.dropped['7'], '-1': udp.dropped['7'], '12': udp.dropped['9'] } }), 'tproxy');
    assert.deepEqual([...drops.keys()], [12]);
    assert.equal(record({ flows: 0, dropped: { '7': { reason: 'x', datagrams: -1 } } }), null);
  });
});
