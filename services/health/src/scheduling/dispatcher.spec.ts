import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProbeJobData, ProbeResult } from '@pgw/events';
import { createLogger } from '@pgw/log';
import type { Queue } from 'bullmq';
import type { Prober } from '../probing/prober.js';
import { ProbeDispatcher } from './dispatcher.js';
import { ProbeRuns } from './probe-runs.js';
import { Semaphore } from './semaphore.js';

/** The two calls the dispatcher makes of BullMQ's queue, with the states a test sets. */
class QueueDouble {
  readonly added: { jobId: string; data: ProbeJobData }[] = [];
  readonly state = new Map<string, string>();
  reachable = true;

  async getJobState(jobId: string): Promise<string> {
    return this.state.get(jobId) ?? 'unknown';
  }

  async add(_name: string, data: ProbeJobData, options: { jobId: string }): Promise<void> {
    if (!this.reachable) throw new Error('Connection is closed.');
    this.added.push({ jobId: options.jobId, data });
    this.state.set(options.jobId, 'waiting');
  }
}

/** A prober whose probes end when the test says. */
class ProberDouble {
  readonly started: number[] = [];
  private readonly ends: (() => void)[] = [];

  probe(proxyId: number): Promise<ProbeResult> {
    this.started.push(proxyId);
    return new Promise((resolve) => this.ends.push(() => resolve({ proxyId, ok: true, latencyMs: 1, exitIp: null, error: null, checkedAt: new Date().toISOString() })));
  }

  endAll(): void {
    for (const end of this.ends.splice(0)) end();
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

function dispatcherWith(queue: QueueDouble, prober = new ProberDouble()) {
  const dispatcher = new ProbeDispatcher(queue as unknown as Queue<ProbeJobData, ProbeResult>, new ProbeRuns(prober as unknown as Prober, new Semaphore(4)), createLogger('dispatcher-spec', 'error'));
  return { dispatcher, prober };
}

describe('ProbeDispatcher', () => {
  it('folds a request into the job of its proxy and trigger while that job waits', async () => {
    const queue = new QueueDouble();
    const { dispatcher } = dispatcherWith(queue);
    dispatcher.dispatch(7, 'upstream_failure');
    await settle();
    dispatcher.dispatch(7, 'upstream_failure');
    await settle();
    assert.equal(queue.added.length, 1);
    assert.deepEqual(queue.added[0]!.data, { proxyId: 7, trigger: 'upstream_failure' });
  });

  it('adds a job of its own, under a new id, for a request made while the job runs or after it ended', async () => {
    const queue = new QueueDouble();
    const { dispatcher } = dispatcherWith(queue);
    dispatcher.dispatch(7, 'liveness');
    await settle();
    queue.state.set(queue.added[0]!.jobId, 'active');
    dispatcher.dispatch(7, 'liveness');
    await settle();
    queue.state.delete(queue.added[1]!.jobId); // completed and removed
    dispatcher.dispatch(7, 'liveness');
    await settle();
    const ids = queue.added.map((a) => a.jobId);
    assert.equal(new Set(ids).size, 3, ids.join(' '));
  });

  it('requests made while a job is being added are served by that job', async () => {
    const queue = new QueueDouble();
    const { dispatcher } = dispatcherWith(queue);
    for (let i = 0; i < 5; i++) dispatcher.dispatch(7, 'upstream_failure');
    await settle();
    assert.equal(queue.added.length, 1);
  });

  it('keeps proxies, triggers and endpoints apart', async () => {
    const queue = new QueueDouble();
    const { dispatcher } = dispatcherWith(queue);
    dispatcher.dispatch(7, 'periodic', 'a');
    dispatcher.dispatch(8, 'periodic', 'a');
    dispatcher.dispatch(7, 'liveness');
    await settle();
    dispatcher.dispatch(7, 'periodic', 'b'); // the proxy was edited: its old endpoint's waiting job says nothing of the new one
    await settle();
    assert.equal(queue.added.length, 4);
  });

  it('with Redis down, probes here; a request while that probe runs is probed once more after it, however many come', async () => {
    const queue = new QueueDouble();
    queue.reachable = false;
    const { dispatcher, prober } = dispatcherWith(queue);
    dispatcher.dispatch(7, 'upstream_failure');
    await settle();
    assert.deepEqual(prober.started, [7]);
    for (let i = 0; i < 3; i++) dispatcher.dispatch(7, 'upstream_failure');
    await settle();
    assert.deepEqual(prober.started, [7], 'one probe of a proxy and trigger at a time');
    prober.endAll();
    await settle();
    assert.deepEqual(prober.started, [7, 7], 'the requests made meanwhile: one probe after it');
    prober.endAll();
    await dispatcher.drain();
    assert.deepEqual(prober.started, [7, 7]);
  });
});
