import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoalescedRuns } from './coalesced-runs.js';

/** A run that waits until released, so calls can be made while it runs. */
function gate(): { wait: Promise<void>; release: () => void } {
  let release!: () => void;
  const wait = new Promise<void>((resolve) => (release = resolve));
  return { wait, release };
}

describe('CoalescedRuns', () => {
  it('never overlaps two runs; calls during a run fold into exactly one more run, which starts after it', async () => {
    const started: number[] = [];
    let active = 0;
    let maxActive = 0;
    const first = gate();
    const runs = new CoalescedRuns(async () => {
      started.push(started.length + 1);
      maxActive = Math.max(maxActive, ++active);
      if (started.length === 1) await first.wait;
      active--;
    });
    const a = runs.request();
    const b = runs.request();
    const c = runs.request();
    first.release();
    await Promise.all([a, b, c]);
    assert.deepEqual(started, [1, 2], 'one run, then one more for the calls made during it');
    assert.equal(maxActive, 1);
    await runs.request();
    assert.equal(started.length, 3);
  });

  it('busy while a run is in progress or due, not before nor after', async () => {
    const first = gate();
    const runs = new CoalescedRuns(() => first.wait);
    assert.equal(runs.busy, false);
    const done = runs.request();
    assert.equal(runs.busy, true);
    first.release();
    await done;
    assert.equal(runs.busy, false);
  });

  it('a call in the microtasks between a run deciding it is the last and its promise settling still gets a run of its own', async () => {
    // The call comes at each depth of microtasks after the work's promise resolves: one of them is
    // the slot where the loop had returned and had not yet cleared its promise.
    for (let depth = 0; depth < 8; depth++) {
      let started = 0;
      let late: Promise<void> | null = null;
      const runs = new CoalescedRuns(() => {
        started++;
        const done = Promise.resolve();
        if (started === 1) {
          let at: Promise<void> = done;
          for (let i = 0; i < depth; i++) at = at.then(() => undefined);
          void at.then(() => (late = runs.request()));
        }
        return done;
      });
      await runs.request();
      for (let i = 0; i < 20 && late === null; i++) await Promise.resolve();
      assert.ok(late, `depth ${depth}: the late call was made`);
      await late;
      assert.equal(started, 2, `depth ${depth}: the call made as the run ended was followed by a run`);
    }
  });

  it('a call made during a run settles only after a run that started after the call', async () => {
    const seen: string[] = [];
    let state = 'old';
    const first = gate();
    const runs = new CoalescedRuns(async () => {
      const read = state;
      if (seen.length === 0) await first.wait;
      seen.push(read);
    });
    const a = runs.request();
    state = 'new';
    const b = runs.request().then(() => seen.at(-1));
    first.release();
    await a;
    assert.equal(await b, 'new', 'the second call saw the state as it was when it was made');
  });

  it('rejects with the error of the last run the call waited for, and runs again on the next call', async () => {
    let n = 0;
    const runs = new CoalescedRuns(async () => {
      if (++n === 1) throw new Error('postgres is down');
    });
    await assert.rejects(runs.request(), /postgres is down/);
    await runs.request();
    assert.equal(n, 2);
  });
});
