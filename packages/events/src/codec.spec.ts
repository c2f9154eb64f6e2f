import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEvent, encodeEvent } from './codec.js';

describe('event codec', () => {
  it('round-trips a typed event with its publish time', () => {
    const at = new Date('2026-11-23T10:00:00.000Z');
    const fields = encodeEvent({ type: 'mapping.changed', mappingId: 7, action: 'updated' }, at);
    const decoded = decodeEvent('1-0', fields, 'api');
    assert.ok('event' in decoded);
    assert.deepEqual(decoded.event, { type: 'mapping.changed', mappingId: 7, action: 'updated' });
    assert.equal(decoded.at.toISOString(), at.toISOString());
  });
  it('reports malformed entries instead of throwing', () => {
    assert.match((decodeEvent('1-0', ['data', '{nope'], 'api') as { error: string }).error, /not JSON/);
    const unknown = decodeEvent('1-0', ['data', JSON.stringify({ type: 'proxy.status', proxyId: 1 })], 'health');
    assert.ok('error' in unknown && /status/.test(unknown.error));
  });
  it('refuses a notice found in a stream whose publisher may not send it (a forged status transition)', () => {
    const forged = encodeEvent({ type: 'proxy.status', proxyId: 1, status: 'up', previous: 'down', latencyMs: 5, exitIp: '198.51.100.9', error: null }, new Date());
    const decoded = decodeEvent('1-0', forged, 'api');
    assert.ok('error' in decoded);
    assert.equal(decoded.error, 'proxy.status is published only by health, not found in the api stream');
    assert.ok('event' in decodeEvent('1-0', forged, 'health'));
  });
  it("an `at` that is no time is Redis's: the entry id's milliseconds (an Invalid Date stopped every console's batch)", () => {
    const fields = encodeEvent({ type: 'config.changed' }, new Date());
    fields[3] = 'x';
    const decoded = decodeEvent('1764930000000-0', fields, 'api');
    assert.ok('event' in decoded);
    assert.equal(decoded.at.toISOString(), new Date(1764930000000).toISOString());
  });
});
