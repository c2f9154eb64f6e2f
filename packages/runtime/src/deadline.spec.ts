import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineExceeded, withDeadline } from './deadline.js';

describe('withDeadline', () => {
  it('passes on what the work gives in time, result or error', async () => {
    assert.equal(await withDeadline(Promise.resolve(7), 1_000, 'late'), 7);
    await assert.rejects(withDeadline(Promise.reject(new Error('refused')), 1_000, 'late'), /refused/);
  });

  it('rejects with its message when the work is silent, and drops a later error of the work', async () => {
    let fail: (error: Error) => void = () => undefined;
    const silent = new Promise<number>((_, reject) => (fail = reject));
    const started = Date.now();
    await assert.rejects(withDeadline(silent, 50, 'no answer within 50 ms'), (error: unknown) => error instanceof DeadlineExceeded && error.message === 'no answer within 50 ms');
    assert.ok(Date.now() - started < 1_000);
    fail(new Error('the socket closed at last')); // would be an unhandled rejection if not dropped
    await new Promise((resolve) => setImmediate(resolve));
  });
});
