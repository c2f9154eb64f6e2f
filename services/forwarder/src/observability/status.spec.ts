import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwarderStatusSchema } from '@pgw/events/contracts';
import { buildStatus } from './status.js';

describe('buildStatus', () => {
  it('has the contract shape: at, activeConnections, perMapping by id, listeners, refused by reason', () => {
    const status = buildStatus(
      new Date('2025-01-02T03:04:05.000Z'),
      5,
      [
        [1, 3],
        [9, 0],
        [4, 2],
      ],
      new Map([
        ['destination_loopback', 2],
        ['proxy_lan', 1],
      ]),
    );
    assert.deepEqual(status, {
      at: '2025-01-02T03:04:05.000Z',
      activeConnections: 5,
      perMapping: { '1': 3, '9': 0, '4': 2 },
      listeners: 3,
      refused: { destination_loopback: 2, proxy_lan: 1 },
    });
    assert.equal(forwarderStatusSchema.safeParse(status).success, true, 'the api parses what the forwarder writes');
  });
});
