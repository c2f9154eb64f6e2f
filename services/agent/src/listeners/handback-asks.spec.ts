import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ASK_AGAIN_MS, HandbackAsks } from './handback-asks.js';

describe('HandbackAsks', () => {
  it('asks for a new set at once, the same set again only after ASK_AGAIN_MS', () => {
    const asks = new HandbackAsks();
    assert.deepEqual(asks.next([20001, 20002], 1_000), { send: true, repeated: false });
    assert.deepEqual(asks.next([20001, 20002], 1_000 + ASK_AGAIN_MS - 1), { send: false, repeated: true });
    assert.deepEqual(asks.next([20001, 20002], 1_000 + ASK_AGAIN_MS), { send: true, repeated: true });
    // The wait counts from the last ask that was sent, not from the one held back.
    assert.deepEqual(asks.next([20001, 20002], 1_000 + 2 * ASK_AGAIN_MS - 1), { send: false, repeated: true });
  });

  it('asks at once when the set changes, and for the old set at once after it', () => {
    const asks = new HandbackAsks();
    assert.equal(asks.next([20001], 0).send, true);
    assert.deepEqual(asks.next([20001, 20002], 1), { send: true, repeated: false });
    assert.deepEqual(asks.next([20001], 2), { send: true, repeated: false });
  });
});
