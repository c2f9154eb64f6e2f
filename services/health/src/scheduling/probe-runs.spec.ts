import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProbeResult } from '@pgw/events';
import type { Prober } from '../probing/prober.js';
import { ProbeRuns } from './probe-runs.js';
import { Semaphore } from './semaphore.js';

/** A prober whose probes end when the test says, counting those running at once. */
class ProberDouble {
  readonly started: string[] = [];
  running = 0;
  mostAtOnce = 0;
  private readonly ends: (() => void)[] = [];

  probe(proxyId: number, trigger: string): Promise<ProbeResult> {
    this.started.push(`${trigger}-${proxyId}`);
    this.mostAtOnce = Math.max(this.mostAtOnce, ++this.running);
    return new Promise((resolve) =>
      this.ends.push(() => {
        this.running--;
        resolve({ proxyId, ok: true, latencyMs: 1, exitIp: null, error: null, checkedAt: new Date().toISOString() });
      }),
    );
  }

  endAll(): void {
    for (const end of this.ends.splice(0)) end();
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('ProbeRuns', () => {
  it('runs one probe of a proxy and trigger at a time; requests made meanwhile fold into one run after it', async () => {
    const prober = new ProberDouble();
    const runs = new ProbeRuns(prober as unknown as Prober, new Semaphore(8));
    const first = runs.request(7, 'liveness');
    assert.equal(first.folded, false);
    await settle();
    const later = Array.from({ length: 10 }, () => runs.request(7, 'liveness'));
    assert.ok(later.every((r) => r.folded));
    await settle();
    assert.deepEqual(prober.started, ['liveness-7']);
    prober.endAll();
    await settle();
    assert.deepEqual(prober.started, ['liveness-7', 'liveness-7'], 'one run after the one that was running');
    prober.endAll();
    await Promise.all([first.done, ...later.map((r) => r.done)]);
    assert.equal(prober.mostAtOnce, 1);
  });

  it('keeps other proxies and triggers apart', async () => {
    const prober = new ProberDouble();
    const runs = new ProbeRuns(prober as unknown as Prober, new Semaphore(8));
    const asked = [runs.request(7, 'liveness'), runs.request(7, 'upstream_failure'), runs.request(8, 'liveness')];
    assert.ok(asked.every((r) => !r.folded));
    await settle();
    assert.deepEqual(prober.started.sort(), ['liveness-7', 'liveness-8', 'upstream_failure-7']);
    prober.endAll();
    await runs.drain();
  });
});
