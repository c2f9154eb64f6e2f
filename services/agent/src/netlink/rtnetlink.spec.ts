import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRoutes, parseRules, rulesDumpRequest } from './rtnetlink.js';
import { attribute, DumpInterrupted, message } from './wire.js';

// The kernel's side, byte for byte (fib_rule_hdr / rtmsg, then attributes); the real kernel's
// answers are read in test/integration/kernel-tables.test.ts.
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
};
const header = (bytes: number[]) => Buffer.from([...bytes, 0, 0, 0, 0]);
const done = message(3, 2, 1, u32(0));
const error = (errno: number) => message(2, 0, 1, Buffer.concat([u32(-errno >>> 0), Buffer.alloc(16)]));

describe('rtnetlink rules and routes', () => {
  it('asks for an IPv4 dump', () => {
    const request = rulesDumpRequest(7);
    assert.equal(request.readUInt16LE(4), 34, 'RTM_GETRULE');
    assert.equal(request.readUInt16LE(6), 0x301, 'NLM_F_REQUEST | NLM_F_DUMP');
    assert.equal(request[16], 2, 'AF_INET');
  });

  it('reads a blackhole rule with no priority attribute as priority 0, and the fields of a marked one', () => {
    const blackhole = message(32, 2, 1, Buffer.concat([header([2, 8, 0, 0, 0, 0, 0, 6]), attribute(1, Buffer.from([127, 0, 0, 0])), attribute(3, Buffer.from('ens19\0')), attribute(15, u32(0)), attribute(21, Buffer.from([242]))]));
    const marked = message(32, 2, 1, Buffer.concat([header([2, 0, 0, 0, 243, 0, 0, 1]), attribute(6, u32(99)), attribute(10, u32(0x2000000)), attribute(16, u32(0x2000000)), attribute(15, u32(243)), attribute(21, Buffer.from([243]))]));
    const ipv6 = message(32, 2, 1, Buffer.concat([header([10, 0, 0, 0, 254, 0, 0, 1]), attribute(6, u32(5))]));
    assert.deepEqual(parseRules(Buffer.concat([blackhole, marked, ipv6, done])), [
      { priority: 0, iif: 'ens19', dst: '127.0.0.0/8', fwmark: null, fwmask: null, action: 'blackhole', table: 0, protocol: 242 },
      { priority: 99, iif: null, dst: null, fwmark: 0x2000000, fwmask: 0x2000000, action: 'lookup', table: 243, protocol: 243 },
    ]);
  });

  it('reads a local default route of table 243 through the loopback device', () => {
    const route = message(24, 2, 1, Buffer.concat([header([2, 0, 0, 0, 243, 243, 254, 2]), attribute(15, u32(243)), attribute(4, u32(1))]));
    assert.deepEqual(parseRoutes(Buffer.concat([route, done])), [{ table: 243, type: 2, dst: '0.0.0.0/0', oif: 1, protocol: 243 }]);
  });

  it('a dump the kernel flagged interrupted (NLM_F_DUMP_INTR) is refused, to be read again; an error in DONE is an error', () => {
    const flagged = message(32, 2 | 0x10, 1, Buffer.concat([header([2, 0, 0, 0, 254, 0, 0, 1]), attribute(6, u32(5))]));
    assert.throws(() => parseRules(Buffer.concat([flagged, done])), DumpInterrupted);
    assert.throws(() => parseRules(message(3, 2, 1, u32(-4 >>> 0))), /rule dump failed: errno 4/);
  });

  it('throws on the kernel\'s error and on a truncated answer, naming what failed', () => {
    assert.throws(() => parseRules(error(1)), /rule dump failed: errno 1/);
    assert.throws(() => parseRoutes(Buffer.concat([message(24, 2, 1, header([2, 0, 0, 0, 254, 0, 0, 1])).subarray(0, 20)])), /malformed netlink message/);
  });
});
