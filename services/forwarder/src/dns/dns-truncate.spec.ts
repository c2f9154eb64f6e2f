import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDnsQuery } from './dns-header.js';
import { fitDnsAnswer } from './dns-truncate.js';
import { dnsQuery, dnsTxtAnswer } from './dns-test-messages.js';

describe('fitDnsAnswer: what the client can take over UDP', () => {
  it('an answer that fits is sent as it is', () => {
    const answer = dnsTxtAnswer(dnsQuery(9), '198.51.100.10');
    assert.equal(fitDnsAnswer(answer, 512), answer);
  });

  it('a larger answer: TC=1, the question kept, no records, so the client retries over TCP', () => {
    const query = dnsQuery(9);
    const answer = dnsTxtAnswer(query, 'a'.repeat(600));
    assert.ok(answer.length > 512);
    const fitted = fitDnsAnswer(answer, 512);
    assert.ok(fitted.length <= 512);
    assert.equal(fitted.readUInt16BE(0), 9, 'same id');
    assert.equal(fitted[2]! & 0x82, 0x82, 'QR and TC set');
    assert.deepEqual([fitted.readUInt16BE(4), fitted.readUInt16BE(6), fitted.readUInt16BE(8), fitted.readUInt16BE(10)], [1, 0, 0, 0]);
    assert.deepEqual(fitted.subarray(12), query.subarray(12), 'the question as asked');
    assert.equal(answer[2]! & 0x02, 0, 'the original answer is not changed');
  });

  it('the EDNS size the client announced decides: 1232 takes the 600-byte answer whole', () => {
    const query = dnsQuery(9, 'whoami.pgw.test', 1232);
    const answer = dnsTxtAnswer(query, 'a'.repeat(600));
    const { udpAnswerMax } = parseDnsQuery(query) as { udpAnswerMax: number };
    assert.equal(fitDnsAnswer(answer, udpAnswerMax), answer);
  });

  it('an answer whose question cannot be read: the header alone, with TC', () => {
    const answer = Buffer.alloc(600);
    answer.writeUInt16BE(5, 0);
    answer[2] = 0x80;
    answer.writeUInt16BE(1, 4);
    answer[12] = 0x80; // not a label
    const fitted = fitDnsAnswer(answer, 512);
    assert.equal(fitted.length, 12);
    assert.equal(fitted.readUInt16BE(4), 0);
    assert.equal(fitted[2]! & 0x02, 0x02);
  });
});
