import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GateFull, WorkGate } from './work-gate.js';

/** A job that runs until released, recording how many run at once. */
function jobs() {
  let active = 0;
  let peak = 0;
  const releases: (() => void)[] = [];
  const job = () => async () => {
    active++;
    peak = Math.max(peak, active);
    await new Promise<void>((resolve) => releases.push(resolve));
    active--;
  };
  return { job, releases, peak: () => peak, active: () => active };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('runs at most `concurrency` at once, queues up to `maxWaiting` in order, refuses the rest at once', async () => {
  const gate = new WorkGate(2, 3);
  const j = jobs();
  const order: number[] = [];
  const accepted = Array.from({ length: 5 }, (_, i) => gate.run(j.job()).then(() => order.push(i)));
  await tick();
  assert.equal(j.active(), 2);
  await assert.rejects(gate.run(j.job()), GateFull);
  while (j.releases.length > 0 || j.active() > 0) {
    j.releases.shift()?.();
    await tick();
  }
  await Promise.all(accepted);
  assert.equal(j.peak(), 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  await gate.run(async () => undefined);
});

test('a failing job frees its slot', async () => {
  const gate = new WorkGate(1, 0);
  await assert.rejects(gate.run(async () => Promise.reject(new Error('boom'))), /boom/);
  const j = jobs();
  const first = gate.run(j.job());
  await tick();
  await assert.rejects(gate.run(j.job()), GateFull);
  j.releases.shift()!();
  await first;
  const next = gate.run(j.job());
  await tick();
  assert.equal(j.active(), 1, 'the slot was free again');
  j.releases.shift()!();
  await next;
  assert.equal(j.peak(), 1);
});

test('work run first goes ahead of the queue, first come first served among its own, and is never refused for a full queue', async () => {
  const gate = new WorkGate(1, 1);
  const j = jobs();
  const order: string[] = [];
  const running = gate.run(j.job()).then(() => order.push('running'));
  const queued = gate.run(j.job()).then(() => order.push('queued'));
  await tick();
  await assert.rejects(gate.run(j.job()), GateFull);
  const firsts = ['first 1', 'first 2', 'first 3'].map((name) => gate.run(j.job(), true).then(() => order.push(name)));
  while (j.releases.length > 0 || j.active() > 0) {
    j.releases.shift()?.();
    await tick();
  }
  await Promise.all([running, queued, ...firsts]);
  assert.deepEqual(order, ['running', 'first 1', 'first 2', 'first 3', 'queued']);
});
