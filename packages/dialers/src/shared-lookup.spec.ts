import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LookupOptions } from 'node:dns';
import { sharedLookup } from './shared-lookup.js';

describe('sharedLookup', () => {
  it('a lookup refused before it started (options dns.lookup does not take) leaves no entry later dials would wait on', () => {
    const bad = { family: 5 } as unknown as LookupOptions;
    assert.throws(() => sharedLookup('refused.pgw.test', bad, () => assert.fail('no answer expected')), /family/);
    // Before: the second asker joined the first, which never answers, and waited for good.
    assert.throws(() => sharedLookup('refused.pgw.test', bad, () => assert.fail('no answer expected')), /family/);
  });

  it('askers of the same name and options share one answer, each its own copy of the list', async () => {
    const answers = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<unknown>((resolve, reject) =>
            sharedLookup('localhost', { all: true, family: 4 }, (error, address) => (error ? reject(error) : resolve(address))),
          ),
      ),
    );
    assert.deepEqual(answers[0], answers[1]);
    assert.notEqual(answers[0], answers[1], 'not the same array');
  });
});
