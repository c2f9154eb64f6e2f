import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Semaphore } from './semaphore.js';

describe('Semaphore', () => {
  it('never runs more than its size at once and runs everything', async () => {
    const semaphore = new Semaphore(3);
    let running = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        semaphore.run(async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((resolve) => setTimeout(resolve, 1 + (i % 3)));
          running--;
          return i;
        }),
      ),
    );
    assert.equal(peak, 3);
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
    assert.equal(semaphore.inUse, 0);
  });

  it('frees the slot when a task throws', async () => {
    const semaphore = new Semaphore(1);
    await assert.rejects(semaphore.run(() => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await semaphore.run(async () => 'next'), 'next');
  });

  it('rejects a size that is not a positive integer', () => {
    assert.throws(() => new Semaphore(0), /positive integer/);
  });
});
