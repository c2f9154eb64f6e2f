import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeCheckTarget, type LatestProbe } from './target-suspicion.js';

const failedBeyond = (atMs: number): LatestProbe => ({ ok: false, reachedProxy: true, atMs });
const refused = (atMs: number): LatestProbe => ({ ok: false, reachedProxy: false, atMs });
const ok = (atMs: number): LatestProbe => ({ ok: true, reachedProxy: true, atMs });

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
