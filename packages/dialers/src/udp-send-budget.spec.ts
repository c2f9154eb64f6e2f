import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UdpSendBudget } from './udp-send-budget.js';

class FakeQueue {
  constructor(public queued = 0) {}
  queuedBytes(): number {
    return this.queued;
  }
}

describe('UdpSendBudget: bytes waiting in all associations\' send queues', () => {
  it('admits anything while no queue holds bytes', () => {
    const budget = new UdpSendBudget(1000, () => 0);
    assert.equal(budget.admits(64 * 1024), true);
  });

  it('refuses once the queues together would pass the limit, however many queues hold it', () => {
    let now = 0;
    const budget = new UdpSendBudget(1000, () => now);
    const queues = Array.from({ length: 10 }, () => new FakeQueue());
    for (const queue of queues) {
      queue.queued = 90;
      budget.sent(queue);
    }
    assert.equal(budget.admits(100), true, '900 + 100');
    assert.equal(budget.admits(1), false, 'what was admitted counts until the next count');
    // The kernel took most of it: counted again after a millisecond.
    for (const queue of queues) queue.queued = 10;
    assert.equal(budget.admits(500), false, 'not counted again within the same millisecond');
    now = 1;
    assert.equal(budget.admits(500), true, '100 + 500');
  });

  it('a queue that emptied, or closed, is no longer counted', () => {
    let now = 0;
    const budget = new UdpSendBudget(100, () => now);
    const [a, b] = [new FakeQueue(80), new FakeQueue(80)];
    budget.sent(a);
    assert.equal(budget.admits(30), false);
    a.queued = 0;
    now = 5;
    assert.equal(budget.admits(30), true);
    b.queued = 80;
    budget.sent(b);
    assert.equal(budget.admits(30), false, 'a new backlog is counted at once');
    budget.forget(b);
    assert.equal(budget.admits(30), true);
  });
});
