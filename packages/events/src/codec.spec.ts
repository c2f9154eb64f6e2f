import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEvent, encodeEvent } from './codec.js';

describe('event codec', () => {
  it('round-trips a typed event with its publish time', () => {
    const at = new Date('2026-11-23T10:00:00.000Z');
    const fields = encodeEvent({ type: 'mapping.changed', mappingId: 7, action: 'updated' }, at);
    const decoded = decodeEvent('1-0', fields);
    assert.ok('event' in decoded);
    assert.deepEqual(decoded.event, { type: 'mapping.changed', mappingId: 7, action: 'updated' });
    assert.equal(decoded.at.toISOString(), at.toISOString());
  });
  it('reports malformed entries instead of throwing', () => {
    assert.match((decodeEvent('1-0', ['data', '{nope']) as { error: string }).error, /not JSON/);
    const unknown = decodeEvent('1-0', ['data', JSON.stringify({ type: 'proxy.status', proxyId: 1 })]);
    assert.ok('error' in unknown && /status/.test(unknown.error));
  });
});
