import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionLimits, MappingSlots } from './connection-limits.js';

describe('ConnectionLimits', () => {
  it('refuses beyond the per-mapping limit without touching other mappings', () => {
    const limits = new ConnectionLimits(10, 2);
    const a = new MappingSlots();
    const b = new MappingSlots();
    assert.equal(limits.acquire(a), null);
    assert.equal(limits.acquire(a), null);
    assert.equal(limits.acquire(a), 'limit_mapping');
    assert.equal(limits.acquire(b), null);
    assert.deepEqual([limits.activeConnections, a.active, b.active], [3, 2, 1]);
  });

  it('refuses beyond the global limit, and a release frees a slot again', () => {
    const limits = new ConnectionLimits(2, 2);
    const a = new MappingSlots();
    const b = new MappingSlots();
    assert.equal(limits.acquire(a), null);
    assert.equal(limits.acquire(b), null);
    assert.equal(limits.acquire(b), 'limit_global');
    assert.equal(b.active, 1, 'a refused acquire takes nothing');
    limits.release(a);
    assert.equal(limits.acquire(b), null);
    assert.deepEqual([limits.activeConnections, a.active, b.active], [2, 0, 2]);
  });

  it('throws on a release without an acquire (an accounting bug must not go negative)', () => {
    const limits = new ConnectionLimits(2, 2);
    assert.throws(() => limits.release(new MappingSlots()), /release without acquire/);
  });

  it('refuses nonsensical limits', () => {
    assert.throws(() => new ConnectionLimits(0, 1), /at least 1/);
  });
});
