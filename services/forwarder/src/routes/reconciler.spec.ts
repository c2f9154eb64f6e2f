import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '@pgw/log';
import { Reconciler } from './reconciler.js';

const logger = createLogger('forwarder-test', 'error');

describe('Reconciler', () => {
  it('folds requests that arrive during a run into exactly one more run', async () => {
    let runs = 0;
    let release!: () => void;
    const reconciler = new Reconciler(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
    }, logger);
    const first = reconciler.request();
    const second = reconciler.request();
    const third = reconciler.request();
    release();
    await Promise.all([first, second, third]);
    assert.equal(runs, 2);
    await reconciler.request();
    assert.equal(runs, 3);
  });

  it('survives a failing run and runs again on the next request', async () => {
    let runs = 0;
    const reconciler = new Reconciler(async () => {
      if (++runs === 1) throw new Error('postgres is down');
    }, logger);
    await reconciler.request();
    await reconciler.request();
    assert.equal(runs, 2);
  });
});
