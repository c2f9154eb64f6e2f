import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deleteRequests, dumpRequest, parseAcks, parseDump } from './ctnetlink.js';

// Encoders for the kernel's side of the exchange, byte for byte as nfnetlink_conntrack.h lays it out.
const NESTED = 0x8000;
function attr(type: number, payload: Buffer): Buffer {
  const length = 4 + payload.length;
  const out = Buffer.alloc((length + 3) & ~3);
  out.writeUInt16LE(length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}
const nest = (type: number, ...children: Buffer[]) => attr(type | NESTED, Buffer.concat(children));
const ip = (text: string) => Buffer.from(text.split('.').map(Number));
const be16 = (n: number) => Buffer.from([n >> 8, n & 255]);
const be32 = (n: number) => Buffer.from([n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255]);

function tuple(type: number, src: string, dst: string, sport: number, dport: number): Buffer {
  return nest(type, nest(1, attr(1, ip(src)), attr(2, ip(dst))), nest(2, attr(1, Buffer.from([6])), attr(2, be16(sport)), attr(3, be16(dport))));
}
function message(type: number, flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(16 + body.length, 0);
  head.writeUInt16LE(type, 4);
  head.writeUInt16LE(flags, 6);
  return Buffer.concat([head, body]);
}
const NFGEN = Buffer.from([2, 0, 0, 0]);
const CT_NEW = (1 << 8) | 0;
/** A client's connection to 1.1.1.1:80; `dnatPort`: DNAT-ed to 127.0.0.1 on that port (the reply comes from it). */
function entry(src: string, id: number, options: { zone?: number; flags?: number; dnatPort?: number } = {}): Buffer {
  return message(CT_NEW, 0x2 | (options.flags ?? 0), Buffer.concat([
    NFGEN,
    tuple(1, src, '1.1.1.1', 40000, 80),
    options.dnatPort === undefined ? tuple(2, '1.1.1.1', src, 80, 40000) : tuple(2, '127.0.0.1', src, options.dnatPort, 40000),
    attr(3, be32(0x80)), // CTA_STATUS: not copied into a delete
    ...(options.zone !== undefined ? [attr(18, be16(options.zone))] : []),
    attr(12, be32(id)),
  ]));
}
const done = () => message(3, 0x2, Buffer.alloc(4));
function ack(errno: number): Buffer {
  const body = Buffer.alloc(20);
  body.writeInt32LE(-errno, 0);
  return message(2, 0x100, body);
}

/** Every entry of these clients: the kept port is one no entry here is DNAT-ed to. */
const all = (...ips: string[]) => new Map(ips.map((ip) => [ip, 20000]));

describe('ctnetlink', () => {
  it('asks for one dump of the IPv4 table', () => {
    const request = dumpRequest(7);
    assert.equal(request.length, 20);
    assert.equal(request.readUInt32LE(0), 20);
    assert.equal(request.readUInt16LE(4), (1 << 8) | 1, 'NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET');
    assert.equal(request.readUInt16LE(6), 0x1 | 0x300, 'NLM_F_REQUEST | NLM_F_DUMP');
    assert.equal(request.readUInt32LE(8), 7);
    assert.deepEqual([...request.subarray(16)], [2, 0, 0, 0], 'AF_INET, NFNETLINK_V0');
  });

  it("keeps only the clients' entries, with their original tuple, zone and id", () => {
    const answer = Buffer.concat([entry('10.0.0.1', 11), entry('10.0.0.2', 12), entry('10.0.0.3', 13, { zone: 7 }), done()]);
    const { entries, interrupted } = parseDump(answer, all('10.0.0.1', '10.0.0.3'));
    assert.equal(interrupted, false);
    assert.deepEqual(entries.map((e) => e.source), ['10.0.0.1', '10.0.0.3']);
    assert.deepEqual(entries[0]!.identity, Buffer.concat([tuple(1, '10.0.0.1', '1.1.1.1', 40000, 80), attr(12, be32(11))]));
    assert.deepEqual(entries[1]!.identity, Buffer.concat([tuple(1, '10.0.0.3', '1.1.1.1', 40000, 80), attr(18, be16(7)), attr(12, be32(13))]));
  });

  it('matches the original source only: a reply tuple towards the client is not its connection', () => {
    const { entries } = parseDump(Buffer.concat([entry('1.1.1.1', 5), done()]), all('10.0.0.1'));
    assert.deepEqual(entries, []);
  });

  it('leaves out the entries DNAT-ed to the kept port, and only those', () => {
    const answer = Buffer.concat([entry('10.0.0.1', 1, { dnatPort: 20001 }), entry('10.0.0.1', 2, { dnatPort: 20099 }), entry('10.0.0.1', 3), entry('10.0.0.2', 4, { dnatPort: 20001 }), done()]);
    const { entries } = parseDump(answer, new Map([['10.0.0.1', 20001], ['10.0.0.2', 20002]]));
    assert.deepEqual(entries.map((e) => e.identity.readUInt32BE(e.identity.length - 4)), [2, 3, 4]);
  });

  it('tells when the table changed during the dump', () => {
    assert.equal(parseDump(Buffer.concat([entry('10.0.0.1', 1, { flags: 0x10 }), done()]), all()).interrupted, true);
  });

  it('throws on a kernel error and on a truncated answer', () => {
    assert.throws(() => parseDump(ack(1), all()), /errno 1/);
    assert.throws(() => parseDump(entry('10.0.0.1', 1).subarray(0, 30), all()), /malformed/);
  });

  it('deletes each entry by its identity, acknowledged, with consecutive sequence numbers', () => {
    const { entries } = parseDump(Buffer.concat([entry('10.0.0.1', 11), entry('10.0.0.3', 13, { zone: 7 }), done()]), all('10.0.0.1', '10.0.0.3'));
    const request = deleteRequests(entries, 100);
    let offset = 0;
    for (const [i, e] of entries.entries()) {
      const length = request.readUInt32LE(offset);
      assert.equal(length, 20 + e.identity.length);
      assert.equal(request.readUInt16LE(offset + 4), (1 << 8) | 2, 'IPCTNL_MSG_CT_DELETE');
      assert.equal(request.readUInt16LE(offset + 6), 0x1 | 0x4, 'NLM_F_REQUEST | NLM_F_ACK');
      assert.equal(request.readUInt32LE(offset + 8), 100 + i);
      assert.equal(request.readUInt8(offset + 16), 2);
      assert.deepEqual(request.subarray(offset + 20, offset + length), e.identity);
      offset += length;
    }
    assert.equal(offset, request.length);
  });

  it('counts acknowledgements: deleted, already gone (ENOENT), other errors', () => {
    assert.deepEqual(parseAcks(Buffer.concat([ack(0), ack(2), ack(0), ack(1)])), { deleted: 2, gone: 1, errors: [1] });
  });
});
