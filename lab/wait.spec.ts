import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './wait.js';

describe('waitFor', () => {
  it('returns the first value that is neither undefined nor false', async () => {
    let reads = 0;
    const value = await waitFor('the third read', 1_000, () => (++reads < 3 ? (reads === 1 ? undefined : false) : reads), { intervalMs: 1 });
    assert.equal(value, 3);
  });

  it('times out with an error naming what it waited for and the state seen', async () => {
    const started = Date.now();
    await assert.rejects(waitFor('the door to open', 60, () => false, { intervalMs: 10, detail: () => 'door: shut' }), {
      message: 'timed out after 60 ms waiting for the door to open (door: shut)',
    });
    assert.ok(Date.now() - started < 1_000);
  });

  it('fails at once when a read throws, unless told to retry', async () => {
    let reads = 0;
    const failing = () => {
      reads++;
      throw new Error('boom');
    };
    await assert.rejects(waitFor('x', 1_000, failing), { message: 'boom' });
    assert.equal(reads, 1);
    await assert.rejects(waitFor('x', 50, failing, { intervalMs: 10, retryErrors: true }), {
      message: 'timed out after 50 ms waiting for x (last error: boom)',
    });
    assert.ok(reads > 2);
  });
});
