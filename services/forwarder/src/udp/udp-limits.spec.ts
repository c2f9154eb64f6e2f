import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientTally, DEFAULT_UDP_LIMITS, UdpFlowCounts, worstCaseUdpDescriptors } from './udp-limits.js';

describe('UdpFlowCounts: flows per client and in all', () => {
  it('refuses the flow over the per-client limit, other clients still fit', () => {
    const counts = new UdpFlowCounts({ perClient: 2, total: 10, destinationsPerClient: 1, destinationsTotal: 1 });
    counts.add('192.168.2.10');
    counts.add('192.168.2.10');
    assert.equal(counts.refusal('192.168.2.10'), 'limit_client');
    assert.equal(counts.refusal('192.168.2.11'), null);
    counts.remove('192.168.2.10');
    assert.equal(counts.refusal('192.168.2.10'), null);
  });

  it('refuses every client at the total limit; a removal frees one place', () => {
    const counts = new UdpFlowCounts({ perClient: 5, total: 3, destinationsPerClient: 1, destinationsTotal: 1 });
    for (const last of [10, 11, 12]) counts.add(`192.168.2.${last}`);
    assert.equal(counts.total, 3);
    assert.equal(counts.refusal('192.168.2.13'), 'limit_total');
    counts.remove('192.168.2.11');
    assert.equal(counts.refusal('192.168.2.13'), null);
  });

  it('a removal of a client with no flow changes nothing (never below zero)', () => {
    const counts = new UdpFlowCounts({ perClient: 1, total: 1, destinationsPerClient: 1, destinationsTotal: 1 });
    counts.remove('192.168.2.10');
    assert.equal(counts.total, 0);
    counts.add('192.168.2.10');
    assert.equal(counts.refusal('192.168.2.11'), 'limit_total');
  });
});

describe('UDP relay descriptors: bounded whatever the clients send', () => {
  it('the default limits hold at most 32768 descriptors (a quarter of the unit’s LimitNOFILE 131072; the rest is for TCP relays)', () => {
    assert.ok(worstCaseUdpDescriptors(DEFAULT_UDP_LIMITS) <= 32_768, `worst case ${worstCaseUdpDescriptors(DEFAULT_UDP_LIMITS)}`);
  });

  it('reply sockets are counted per client and in all, across the client’s flows', () => {
    const counts = new UdpFlowCounts({ perClient: 10, total: 10, destinationsPerClient: 3, destinationsTotal: 4 });
    for (let i = 0; i < 3; i++) {
      assert.equal(counts.destinationRefusal('192.168.2.10'), null);
      counts.addDestination('192.168.2.10');
    }
    assert.equal(counts.destinationRefusal('192.168.2.10'), 'limit_destinations');
    counts.addDestination('192.168.2.11');
    assert.equal(counts.destinationRefusal('192.168.2.12'), 'limit_destinations_total');
    counts.removeDestinations('192.168.2.10', 2);
    assert.equal(counts.destinationRefusal('192.168.2.10'), null);
    assert.equal(counts.destinationRefusal('192.168.2.12'), null);
    counts.removeDestinations('192.168.2.11', 5);
    counts.removeDestinations('192.168.2.10', 5);
    assert.equal(counts.destinations, 0, 'never below zero');
  });
});

describe('ClientTally in amounts: bytes waiting for associations, per client and in all', () => {
  it('one client cannot take the whole budget: another client\'s first datagram still fits', () => {
    const limits = DEFAULT_UDP_LIMITS;
    const queued = new ClientTally(limits.queuedBytesPerClient, limits.queuedBytesTotal);
    // A client at its flow limit, each flow holding its most (256 x 64 KiB: the whole 16 MiB before).
    let held = 0;
    for (let flow = 0; flow < limits.perClient; flow++) {
      if (queued.over('192.168.2.10', limits.queuedBytesPerFlow) === null) {
        queued.add('192.168.2.10', limits.queuedBytesPerFlow);
        held += limits.queuedBytesPerFlow;
      }
    }
    assert.equal(held, limits.queuedBytesPerClient);
    assert.equal(queued.over('192.168.2.10', 1), 'client');
    assert.equal(queued.over('192.168.2.11', limits.queuedBytesPerFlow), null, 'another client still has room');
    queued.remove('192.168.2.10', held);
    assert.equal(queued.count, 0);
  });

  it('refuses an amount that would cross either limit, not only once a limit is reached', () => {
    const tally = new ClientTally(100, 150);
    tally.add('a', 90);
    assert.equal(tally.over('a', 20), 'client');
    assert.equal(tally.over('b', 70), 'total');
    assert.equal(tally.over('b', 60), null);
  });
});
