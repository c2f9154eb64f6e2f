import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DnsMessageReader, frameDnsMessage } from './dns-framing.js';

describe('DNS over TCP framing (RFC 7766)', () => {
  it('a message gets its two-byte length in front', () => {
    assert.deepEqual(frameDnsMessage(Buffer.from([1, 2, 3])), Buffer.from([0, 3, 1, 2, 3]));
    assert.throws(() => frameDnsMessage(Buffer.alloc(0x10000)), /does not fit/);
  });

  it('the reader returns the first message whole, whatever the chunking', () => {
    const message = Buffer.alloc(700, 7);
    const framed = Buffer.concat([frameDnsMessage(message), Buffer.from([0, 1, 9])]);
    for (const size of [1, 2, 3, 500, framed.length]) {
      const reader = new DnsMessageReader();
      let got: Buffer | null = null;
      for (let i = 0; i < framed.length && got === null; i += size) got = reader.push(framed.subarray(i, i + size));
      assert.deepEqual(got, message, `chunks of ${size}`);
    }
  });

  it('nothing until the message is complete; an empty message is a message', () => {
    const reader = new DnsMessageReader();
    assert.equal(reader.push(Buffer.from([0])), null);
    assert.equal(reader.push(Buffer.from([4, 1, 2])), null);
    assert.deepEqual(reader.push(Buffer.from([3, 4])), Buffer.from([1, 2, 3, 4]));
    assert.deepEqual(new DnsMessageReader().push(Buffer.from([0, 0])), Buffer.alloc(0));
  });
});
