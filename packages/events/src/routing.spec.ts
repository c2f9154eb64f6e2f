import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareStreamIds, CONSUMER_SOURCES, PUBLISHER_OF, streamKey } from './routing.js';

describe('event routing', () => {
  it('orders stream ids by time, then sequence', () => {
    const ids = ['1700000000001-0', '1700000000000-2', '999-5', '1700000000000-10'];
    assert.deepEqual([...ids].sort(compareStreamIds), ['999-5', '1700000000000-2', '1700000000000-10', '1700000000001-0']);
    assert.equal(compareStreamIds('5-1', '5-1'), 0);
  });
  it('no group reads its own notices, and every notice it acts on comes from a stream it reads', () => {
    for (const [group, sources] of Object.entries(CONSUMER_SOURCES)) assert.ok(!(sources as readonly string[]).includes(group), group);
    assert.equal(PUBLISHER_OF['proxy.status'], 'health');
    assert.ok((CONSUMER_SOURCES.agent as readonly string[]).includes('health'));
    assert.ok((CONSUMER_SOURCES.health as readonly string[]).includes('forwarder'));
    assert.equal(streamKey('pgw:events', 'api'), 'pgw:events:api');
  });
});
