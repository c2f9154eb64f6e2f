import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineTime, synToResetMs } from './tcpdump-text.js';

const SYN = '23:59:59.999500 IP 192.168.2.11.40000 > 203.0.113.10.80: Flags [S], seq 1, win 64240, length 0';
const RST = '00:00:00.000250 IP 203.0.113.10.80 > 192.168.2.11.40000: Flags [R.], seq 0, ack 2, win 0, length 0';

describe('tcpdump text', () => {
  it('reads the time of day of a line, and none of a line without it', () => {
    assert.equal(lineTime('12:34:56.500000 IP 1.2.3.4.5 > 6.7.8.9.10: Flags [S]'), 45_296.5);
    assert.equal(lineTime('reading from file x.pcap'), null);
  });

  it('times a SYN to the RST that answered its port, across midnight', () => {
    const other = '23:59:59.999600 IP 203.0.113.10.80 > 192.168.2.11.40001: Flags [R.], seq 0, ack 2, win 0, length 0';
    const ms = synToResetMs([SYN, other, RST], '192.168.2.11', '203.0.113.10.80');
    assert.ok(ms !== null && Math.abs(ms - 0.75) < 1e-6, String(ms));
  });

  it('is null without a SYN from that client, or without an answer to it', () => {
    assert.equal(synToResetMs([SYN, RST], '192.168.2.12', '203.0.113.10.80'), null);
    assert.equal(synToResetMs([SYN], '192.168.2.11', '203.0.113.10.80'), null);
    // A SYN-ACK is no refusal.
    assert.equal(synToResetMs([SYN, RST.replace('[R.]', '[S.]')], '192.168.2.11', '203.0.113.10.80'), null);
  });
});
