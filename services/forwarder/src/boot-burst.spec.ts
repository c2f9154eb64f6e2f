import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { burstAccepted } from './boot-burst.js';

describe('burstAccepted', () => {
  it('waits for a first connection: no accept at all is not the end of a burst (it ends at maxMs)', async () => {
    const started = performance.now();
    await burstAccepted(() => 0, { quietMs: 30, maxMs: 300 });
    assert.ok(performance.now() - started >= 290, `resolved after ${performance.now() - started} ms`);
  });

  it('ends once connections came in and then none for quietMs', async () => {
    let accepted = 5;
    const started = performance.now();
    const done = burstAccepted(() => accepted, { quietMs: 80, maxMs: 5_000 });
    let resolvedAt = 0;
    void done.then(() => (resolvedAt = performance.now() - started));
    // Accepts every 20 ms for 200 ms: not quiet yet.
    for (let i = 0; i < 10; i++) {
      await sleep(20);
      accepted++;
    }
    assert.equal(resolvedAt, 0, 'still accepting: not over');
    await done;
    assert.ok(resolvedAt >= 200 + 80 - 5 && resolvedAt < 2_000, `resolved after ${resolvedAt} ms`);
  });

  it('ends at maxMs while clients keep coming', async () => {
    let accepted = 0;
    const feeding = setInterval(() => accepted++, 10);
    const started = performance.now();
    await burstAccepted(() => accepted, { quietMs: 100, maxMs: 250 });
    clearInterval(feeding);
    const ms = performance.now() - started;
    assert.ok(ms >= 245 && ms < 2_000, `resolved after ${ms} ms`);
  });
});
