import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChainNames } from './nftnetlink.js';
import { attribute, message } from './wire.js';

// The kernel's side (nfgenmsg, then NFTA_CHAIN_* attributes); the real kernel's answers are read
// in test/integration/kernel-tables.test.ts.
const done = message(3, 2, 1, Buffer.alloc(4));
const error = (errno: number) => {
  const body = Buffer.alloc(20);
  body.writeInt32LE(-errno, 0);
  return message(2, 0, 1, body);
};

describe('nf_tables chain names', () => {
  const chain = (table: string, name: string) => message((10 << 8) | 3, 2, 1, Buffer.concat([Buffer.from([1, 0, 0, 0]), attribute(1, Buffer.from(`${table}\0`)), attribute(3, Buffer.from(`${name}\0`))]));
  it('keeps the chains of the named table only, in the kernel\'s order', () => {
    assert.deepEqual(parseChainNames(Buffer.concat([chain('pgw', 'prerouting'), chain('pgw_guard', 'x'), chain('pgw', 'forward'), done]), 'pgw'), ['prerouting', 'forward']);
    assert.deepEqual(parseChainNames(done, 'pgw'), []);
  });

  it('throws on the kernel\'s error, naming the dump', () => {
    assert.throws(() => parseChainNames(error(95), 'pgw'), /nft chain dump failed: errno 95/);
  });
});
