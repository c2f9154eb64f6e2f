import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DialError } from './dial-error.js';
import { decodeUdpDatagram, encodeUdpDatagram, parseUdpAssociateReply, socks5UdpAssociateRequest } from './socks5-udp-protocol.js';

describe('SOCKS5 UDP ASSOCIATE protocol (RFC 1928 section 7)', () => {
  it('asks for an association from an unknown source: DST 0.0.0.0:0', () => {
    assert.deepEqual([...socks5UdpAssociateRequest()], [5, 3, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('reads the relay address from the reply, the proxy’s own for an unspecified one, nothing before it is complete', () => {
    const reply = Buffer.from([5, 0, 0, 1, 198, 51, 100, 10, 0x9c, 0x40]);
    assert.equal(parseUdpAssociateReply(reply.subarray(0, 7), '198.51.100.10'), null);
    assert.deepEqual(parseUdpAssociateReply(reply, '1.2.3.4'), { address: '198.51.100.10', port: 40000 });
    assert.deepEqual(parseUdpAssociateReply(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0x9c, 0x41]), '198.51.100.10'), { address: '198.51.100.10', port: 40001 });
    const v6 = Buffer.concat([Buffer.from([5, 0, 0, 4]), Buffer.alloc(16), Buffer.from([0x9c, 0x42])]);
    assert.deepEqual(parseUdpAssociateReply(v6, '198.51.100.10'), { address: '198.51.100.10', port: 40002 });
  });

  it("names an IPv6 relay as the kernel does (a datagram's rinfo.address), an IPv4-mapped one as IPv4", () => {
    const reply = (address: number[]) => Buffer.concat([Buffer.from([5, 0, 0, 4]), Buffer.from(address), Buffer.from([0x9c, 0x43])]);
    assert.deepEqual(parseUdpAssociateReply(reply([0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 1]), 'p'), { address: '2001:db8::1', port: 40003 });
    assert.deepEqual(parseUdpAssociateReply(reply([...Array<number>(10).fill(0), 0xff, 0xff, 203, 0, 113, 10]), 'p'), { address: '203.0.113.10', port: 40003 });
    const from = decodeUdpDatagram(Buffer.concat([Buffer.from([0, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8]), Buffer.alloc(11), Buffer.from([5, 0, 53, 0x61])]));
    assert.deepEqual(from?.from, { address: '2001:db8::5', port: 53 });
    // A dual-stack relay names an IPv4 sender IPv4-mapped: the same sender as the flow's IPv4 destination.
    const mapped = decodeUdpDatagram(Buffer.concat([Buffer.from([0, 0, 0, 4]), Buffer.alloc(10), Buffer.from([0xff, 0xff, 203, 0, 113, 53, 0, 53, 0x61])]));
    assert.deepEqual(mapped?.from, { address: '203.0.113.53', port: 53 });
    assert.deepEqual(parseUdpAssociateReply(reply([...Array<number>(10).fill(0), 0xff, 0xff, 0, 0, 0, 0]), '198.51.100.10'), { address: '198.51.100.10', port: 40003 }, '::ffff:0.0.0.0 is unspecified too');
  });

  it('a proxy without UDP refuses the command: proxy_refused, and relay port 0 is a protocol error', () => {
    assert.throws(() => parseUdpAssociateReply(Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]), 'p'), (e: unknown) => e instanceof DialError && e.reason === 'proxy_refused' && /command not supported/.test(e.message));
    assert.throws(() => parseUdpAssociateReply(Buffer.from([5, 0, 0, 1, 1, 2, 3, 4, 0, 0]), 'p'), (e: unknown) => e instanceof DialError && e.reason === 'protocol_error');
  });

  it('a relay named by a host name is refused: only an address can pass the proxy-address check before datagrams go there', () => {
    // A name would be resolved by each send, unchecked: to loopback, the LAN or a metadata address.
    const name = Buffer.from('relay.attacker.test');
    const reply = Buffer.concat([Buffer.from([5, 0, 0, 3, name.length]), name, Buffer.from([0x9c, 0x40])]);
    assert.throws(() => parseUdpAssociateReply(reply, '198.51.100.10'), (e: unknown) => e instanceof DialError && e.reason === 'protocol_error' && /relay\.attacker\.test/.test(e.message));
  });

  it("shows a relay's name as printable ASCII, bounded: the message reaches logs, the client's status and the console", () => {
    const name = Buffer.from(`relay\nforged\x1b[2J${'x'.repeat(200)}`, 'latin1');
    const reply = Buffer.concat([Buffer.from([5, 0, 0, 3, name.length]), name, Buffer.from([0x9c, 0x40])]);
    assert.throws(
      () => parseUdpAssociateReply(reply, '198.51.100.10'),
      (e: unknown) => e instanceof DialError && /^[\x20-\x7e]*$/.test(e.message) && e.message.includes('relay?forged?[2J') && e.message.length < 220,
    );
  });

  it('wraps a datagram for an IPv4, IPv6 or named target and unwraps the relay’s answers', () => {
    const data = Buffer.from('hello');
    assert.deepEqual([...encodeUdpDatagram({ host: '203.0.113.10', port: 7 }, data)], [0, 0, 0, 1, 203, 0, 113, 10, 0, 7, ...data]);
    assert.deepEqual([...encodeUdpDatagram({ host: 'a.test', port: 53 }, data).subarray(0, 13)], [0, 0, 0, 3, 6, ...Buffer.from('a.test'), 0, 53]);
    assert.equal(encodeUdpDatagram({ host: '2001:db8::1', port: 7 }, data)[3], 4);
    const back = decodeUdpDatagram(encodeUdpDatagram({ host: '203.0.113.53', port: 53 }, data));
    assert.deepEqual(back && { from: back.from, data: back.data.toString() }, { from: { address: '203.0.113.53', port: 53 }, data: 'hello' });
  });

  it('drops fragments, truncated headers and unknown address types, and refuses an empty or oversized name', () => {
    assert.equal(decodeUdpDatagram(Buffer.from([0, 0, 1, 1, 1, 2, 3, 4, 0, 7, 9])), null, 'FRAG 1');
    assert.equal(decodeUdpDatagram(Buffer.from([0, 0, 0, 1, 1, 2])), null);
    assert.equal(decodeUdpDatagram(Buffer.from([0, 0, 0, 9, 1, 2, 3, 4, 0, 7])), null);
    assert.throws(() => encodeUdpDatagram({ host: '', port: 53 }, Buffer.alloc(0)), DialError);
    assert.throws(() => encodeUdpDatagram({ host: 'x'.repeat(256), port: 53 }, Buffer.alloc(0)), DialError);
  });
});
