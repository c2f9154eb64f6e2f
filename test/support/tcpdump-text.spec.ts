import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineTime, synToReset } from './tcpdump-text.js';

const SYN = '23:59:59.999500 IP 192.168.2.11.40000 > 203.0.113.10.80: Flags [S], seq 1, win 64240, length 0';
const RST = '00:00:00.000250 IP 203.0.113.10.80 > 192.168.2.11.40000: Flags [R.], seq 0, ack 2, win 0, length 0';

describe('tcpdump text', () => {
  it('reads the time of day of a line, and none of a line without it', () => {
    assert.equal(lineTime('12:34:56.500000 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S]'), 45_296.5);
    assert.equal(lineTime('reading from file x.pcap'), null);
  });

  it('times a SYN to the RST that answered its port, across midnight', () => {
    const other = '23:59:59.999600 IP 203.0.113.10.80 > 192.168.2.11.40001: Flags [R.], seq 0, ack 2, win 0, length 0';
    const refusal = synToReset([SYN, other, RST], '192.168.2.11', '203.0.113.10.80');
    assert.ok(refusal !== null && Math.abs(refusal.ms - 0.75) < 1e-6, JSON.stringify(refusal));
    assert.equal(refusal.syns, 1);
  });

  it('counts the SYNs the port sent before the RST: a dropped first SYN shows as a retransmission', () => {
    const again = SYN.replace('23:59:59.999500', '00:00:00.000100');
    const otherPort = SYN.replace('.40000 ', '.40001 ');
    assert.equal(synToReset([SYN, otherPort, again, RST], '192.168.2.11', '203.0.113.10.80')?.syns, 2);
  });

  it('is null without a SYN from that client, or without an answer to it', () => {
    assert.equal(synToReset([SYN, RST], '192.168.2.12', '203.0.113.10.80'), null);
    assert.equal(synToReset([SYN], '192.168.2.11', '203.0.113.10.80'), null);
    // A SYN-ACK is no refusal.
    assert.equal(synToReset([SYN, RST.replace('[R.]', '[S.]')], '192.168.2.11', '203.0.113.10.80'), null);
  });
});
