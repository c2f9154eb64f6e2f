import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildStatus } from './status.js';

describe('buildStatus', () => {
  it('has the contract shape: at, activeConnections, perMapping by id, listeners', () => {
    const status = buildStatus(new Date('2025-01-02T03:04:05.000Z'), 5, [
      [1, 3],
      [9, 0],
      [4, 2],
    ]);
    assert.deepEqual(status, { at: '2025-01-02T03:04:05.000Z', activeConnections: 5, perMapping: { '1': 3, '9': 0, '4': 2 }, listeners: 3 });
  });
});
