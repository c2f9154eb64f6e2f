import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UdpFlowCounts } from './udp-limits.js';

describe('UdpFlowCounts: flows per client and in all', () => {
  it('refuses the flow over the per-client limit, other clients still fit', () => {
    const counts = new UdpFlowCounts({ perClient: 2, total: 10 });
    counts.add('192.168.2.10');
    counts.add('192.168.2.10');
    assert.equal(counts.refusal('192.168.2.10'), 'limit_client');
    assert.equal(counts.refusal('192.168.2.11'), null);
    counts.remove('192.168.2.10');
    assert.equal(counts.refusal('192.168.2.10'), null);
  });

  it('refuses every client at the total limit; a removal frees one place', () => {
    const counts = new UdpFlowCounts({ perClient: 5, total: 3 });
    for (const last of [10, 11, 12]) counts.add(`192.168.2.${last}`);
    assert.equal(counts.total, 3);
    assert.equal(counts.refusal('192.168.2.13'), 'limit_total');
    counts.remove('192.168.2.11');
    assert.equal(counts.refusal('192.168.2.13'), null);
  });

  it('a removal of a client with no flow changes nothing (never below zero)', () => {
    const counts = new UdpFlowCounts({ perClient: 1, total: 1 });
    counts.remove('192.168.2.10');
    assert.equal(counts.total, 0);
    counts.add('192.168.2.10');
    assert.equal(counts.refusal('192.168.2.11'), 'limit_total');
  });
});
