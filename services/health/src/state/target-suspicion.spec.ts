import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeCheckTarget, laterProbe, type LatestProbe } from './target-suspicion.js';

const failedBeyond = (atMs: number, startedAtMs = atMs): LatestProbe => ({ ok: false, reachedProxy: true, atMs, startedAtMs });
const refused = (atMs: number): LatestProbe => ({ ok: false, reachedProxy: false, atMs, startedAtMs: atMs });
const ok = (atMs: number, startedAtMs = atMs): LatestProbe => ({ ok: true, reachedProxy: true, atMs, startedAtMs });

describe('judgeCheckTarget', () => {
  it('suspects the target when every one of several proxies fails beyond the proxy', () => {
    assert.deepEqual(judgeCheckTarget([failedBeyond(100), failedBeyond(200), failedBeyond(300)], 1_000, 35_000), {
      suspected: true,
      considered: 3,
      failing: 3,
    });
  });

  it('does not suspect the target while one proxy still gets through', () => {
    assert.equal(judgeCheckTarget([failedBeyond(1), failedBeyond(2), failedBeyond(3), ok(4)], 10, 35_000).suspected, false);
  });

  it('does not suspect the target with too few proxies', () => {
    assert.equal(judgeCheckTarget([failedBeyond(1), failedBeyond(2)], 10, 35_000).suspected, false);
  });

  it('blames the proxy when it refused the connection', () => {
    assert.equal(judgeCheckTarget([failedBeyond(1), failedBeyond(2), refused(3)], 10, 35_000).suspected, false);
  });

  it('ignores probes older than the window', () => {
    const verdict = judgeCheckTarget([ok(0), failedBeyond(50_000), failedBeyond(50_001), failedBeyond(50_002)], 60_000, 35_000);
    assert.deepEqual(verdict, { suspected: true, considered: 3, failing: 3 });
  });
});

describe('laterProbe', () => {
  it('keeps the result of the probe that started later, whichever came last', () => {
    // A slow probe that started at 100 ends at 5000, after one that started at 200 and ended at 300.
    const slowFailure = failedBeyond(5_000, 100);
    const success = ok(300, 200);
    assert.equal(laterProbe(success, slowFailure), success, 'the late result of the earlier probe is history only');
    assert.equal(laterProbe(slowFailure, success), success);
    assert.equal(laterProbe(undefined, slowFailure), slowFailure);
    // Three proxies, the third's late stale failure does not make the target suspected.
    const third = laterProbe(success, slowFailure);
    assert.equal(judgeCheckTarget([failedBeyond(1), failedBeyond(2), third], 6_000, 35_000).suspected, false);
  });
});
