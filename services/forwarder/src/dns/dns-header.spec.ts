import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DNS_QUERY_MAX_BYTES, isDnsAnswerTo, parseDnsQuery, skipName } from './dns-header.js';
import { dnsQuery, dnsTxtAnswer } from './dns-test-messages.js';

describe('parseDnsQuery: only a standard query is relayed', () => {
  it('a plain query: its id, and 512 bytes for the answer over UDP', () => {
    assert.deepEqual(parseDnsQuery(dnsQuery(0x1234)), { id: 0x1234, udpAnswerMax: 512 });
  });

  it('an EDNS query: the payload size it announces (never below 512)', () => {
    assert.deepEqual(parseDnsQuery(dnsQuery(7, 'whoami.pgw.test', 1232)), { id: 7, udpAnswerMax: 1232 });
    assert.deepEqual(parseDnsQuery(dnsQuery(7, 'whoami.pgw.test', 100)), { id: 7, udpAnswerMax: 512 });
    // Never above 4096: a 65535 a client announces would let an answer exceed what one datagram can carry.
    assert.deepEqual(parseDnsQuery(dnsQuery(7, 'whoami.pgw.test', 65535)), { id: 7, udpAnswerMax: 4096 });
  });

  it('refuses what is not a query: too short, too long, an answer, another opcode, no or two questions, a broken name', () => {
    assert.deepEqual(parseDnsQuery(Buffer.alloc(11)), { problem: 'too_short' });
    assert.deepEqual(parseDnsQuery(Buffer.concat([dnsQuery(1), Buffer.alloc(DNS_QUERY_MAX_BYTES)])), { problem: 'too_long' });
    assert.deepEqual(parseDnsQuery(dnsTxtAnswer(dnsQuery(1), '198.51.100.10')), { problem: 'not_a_query' });
    const notify = dnsQuery(1);
    notify[2] = 4 << 3;
    assert.deepEqual(parseDnsQuery(notify), { problem: 'not_standard_query' });
    const none = dnsQuery(1);
    none.writeUInt16BE(0, 4);
    assert.deepEqual(parseDnsQuery(none), { problem: 'no_single_question' });
    const two = dnsQuery(1);
    two.writeUInt16BE(2, 4);
    assert.deepEqual(parseDnsQuery(two), { problem: 'no_single_question' });
    assert.deepEqual(parseDnsQuery(dnsQuery(1).subarray(0, 20)), { problem: 'malformed' });
    const extraRecord = dnsQuery(1);
    extraRecord.writeUInt16BE(1, 10); // an additional record announced, none there
    assert.deepEqual(parseDnsQuery(extraRecord), { problem: 'malformed' });
  });

  it('other protocols sent to port 53 are refused (zeros, a QUIC-like long header, text)', () => {
    assert.deepEqual(parseDnsQuery(Buffer.alloc(40)), { problem: 'no_single_question' });
    assert.deepEqual(parseDnsQuery(Buffer.alloc(1200, 0xc3)), { problem: 'not_a_query' });
    assert.deepEqual(parseDnsQuery(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), { problem: 'not_standard_query' });
  });
});

describe('isDnsAnswerTo', () => {
  it('an answer to the same id only', () => {
    const query = dnsQuery(42);
    const answer = dnsTxtAnswer(query, 'x');
    assert.equal(isDnsAnswerTo(answer, 42), true);
    assert.equal(isDnsAnswerTo(answer, 43), false);
    assert.equal(isDnsAnswerTo(query, 42), false, 'the query itself is no answer');
    assert.equal(isDnsAnswerTo(answer.subarray(0, 11), 42), false);
  });
});

describe('skipName', () => {
  it('labels up to the root, a compression pointer, or null when it runs off the end', () => {
    const name = Buffer.from([3, 0x61, 0x62, 0x63, 0, 0xc0, 0x00, 3, 0x61]);
    assert.equal(skipName(name, 0), 5);
    assert.equal(skipName(name, 5), 7);
    assert.equal(skipName(name, 7), null);
    assert.equal(skipName(Buffer.from([0x40, 1]), 0), null, 'an extended label type');
  });
});
