import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseForwarderStatus } from '@pgw/events/contracts';
import { udpStatus } from './udp-status.js';

describe('udpStatus: the UDP part of the forwarder status record', () => {
  it('names each mapping whose client’s UDP is dropped, with the reason; the record parses', () => {
    const udp = udpStatus(3, new Map([[7, { reason: 'proxy_without_udp' as const, detail: 'http proxies carry no UDP', datagrams: 4 }]]));
    assert.deepEqual(udp, { flows: 3, dropped: { '7': { reason: 'proxy_without_udp', detail: 'http proxies carry no UDP', datagrams: 4 } } });
    const record = { at: '2026-12-01T00:00:00.000Z', activeConnections: 0, perMapping: {}, listeners: 0, refused: {}, udp };
    assert.deepEqual(parseForwarderStatus(JSON.stringify(record))?.udp, udp);
    assert.equal(parseForwarderStatus(JSON.stringify({ ...record, udp: { flows: -1, dropped: {} } })), null, 'a negative count is not a status');
  });
});
