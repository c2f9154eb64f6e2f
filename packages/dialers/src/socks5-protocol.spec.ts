import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DialError } from './dial-error.js';
import {
  parseAuthStatus,
  parseConnectReply,
  parseMethodSelection,
  SOCKS5_METHOD_NONE,
  SOCKS5_METHOD_USERPASS,
  socks5Auth,
  socks5Greeting,
  socks5Preamble,
  socks5Request,
} from './socks5-protocol.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** The step parsers in turn, as a pipelined handshake feeds them the stream: its length, or 0. */
function parseSocks5Replies(reply: Buffer, method: 0 | 2): number {
  const steps = [(b: Buffer) => parseMethodSelection(b, method), ...(method === SOCKS5_METHOD_USERPASS ? [parseAuthStatus] : []), parseConnectReply];
  let at = 0;
  for (const parse of steps) {
    const length = parse(reply.subarray(at));
    if (length === 0) return 0;
    at += length;
  }
  return at;
}

function rejects(reply: Buffer, method: 0 | 2, reason: string, message: RegExp): void {
  assert.throws(
    () => parseSocks5Replies(reply, method),
    (error: unknown) => error instanceof DialError && error.reason === reason && message.test(error.message),
  );
}

describe('socks5Preamble / socks5Request', () => {
  it('offers only "no auth" without credentials and pipelines CONNECT to an IPv4 target', () => {
    const request = socks5Request(socks5Preamble(undefined, undefined), { host: '203.0.113.5', port: 80 });
    assert.deepEqual(request, hex('050100 05010001 cb007105 0050'));
  });

  it('pipelines greeting, RFC 1929 auth and CONNECT with a hostname target in one buffer', () => {
    const request = socks5Request(socks5Preamble('user', 'pässword'), { host: 'example.com', port: 443 });
    const expected = Buffer.concat([
      hex('050102'),
      hex('01 04'),
      Buffer.from('user'),
      hex('09'),
      Buffer.from('pässword', 'utf8'),
      hex('05010003 0b'),
      Buffer.from('example.com'),
      hex('01bb'),
    ]);
    assert.deepEqual(request, expected);
  });

  it('encodes an IPv6 target as ATYP 4, including "::" and embedded IPv4', () => {
    const preamble = socks5Preamble(undefined, undefined);
    assert.deepEqual(
      socks5Request(preamble, { host: '2001:db8::5', port: 8080 }).subarray(3),
      hex('05010004 20010db8000000000000000000000005 1f90'),
    );
    assert.deepEqual(
      socks5Request(preamble, { host: '::ffff:192.0.2.1', port: 1 }).subarray(7, 23),
      hex('00000000000000000000ffffc0000201'),
    );
    assert.deepEqual(socks5Request(preamble, { host: '::', port: 1 }).subarray(7, 23), Buffer.alloc(16));
    assert.deepEqual(
      socks5Request(preamble, { host: 'fe80::1:2', port: 1 }).subarray(7, 23),
      hex('fe800000000000000000000000010002'),
    );
  });

  it('sends the same greeting and auth bytes one at a time (sequential) as pipelined', () => {
    assert.deepEqual(socks5Greeting(SOCKS5_METHOD_NONE), hex('050100'));
    assert.deepEqual(Buffer.concat([socks5Greeting(SOCKS5_METHOD_USERPASS), socks5Auth('user', 'pw')]), socks5Preamble('user', 'pw'));
    // A sequential CONNECT is the request alone.
    assert.deepEqual(socks5Request(Buffer.alloc(0), { host: '203.0.113.5', port: 80 }), hex('05010001 cb007105 0050'));
  });

  it('rejects credentials and hostnames that do not fit their length bytes', () => {
    assert.throws(() => socks5Preamble('', 'x'), /username must be 1-255 bytes \(is 0\)/);
    assert.throws(() => socks5Preamble('u'.repeat(256), 'x'), /username must be 1-255 bytes \(is 256\)/);
    assert.throws(() => socks5Preamble('u', 'é'.repeat(128)), /password must be at most 255 bytes \(is 256\)/);
    assert.throws(
      () => socks5Request(socks5Preamble(undefined, undefined), { host: 'a'.repeat(256), port: 1 }),
      (error: unknown) => error instanceof DialError && error.reason === 'invalid_request',
    );
  });
});

describe('parseMethodSelection / parseAuthStatus / parseConnectReply in turn', () => {
  const noAuthOk = hex('0500 05000001 7f000001 1f90');
  const authOk = hex('0502 0100 05000001 7f000001 1f90');

  it('needs every byte: each strict prefix is incomplete, the whole is complete', () => {
    for (const [reply, method] of [
      [noAuthOk, SOCKS5_METHOD_NONE],
      [authOk, SOCKS5_METHOD_USERPASS],
    ] as const) {
      for (let length = 0; length < reply.length; length++) {
        assert.equal(parseSocks5Replies(reply.subarray(0, length), method), 0, `prefix of ${length} bytes`);
      }
      assert.equal(parseSocks5Replies(reply, method), reply.length);
    }
  });

  it('returns the reply length so pipelined target bytes stay for the caller', () => {
    const withData = Buffer.concat([authOk, Buffer.from('SSH-2.0-banner\r\n')]);
    assert.equal(parseSocks5Replies(withData, SOCKS5_METHOD_USERPASS), authOk.length);
  });

  it('sizes IPv6 and domain bound addresses', () => {
    const v6 = hex('0500 05000004 00000000000000000000000000000001 0050');
    assert.equal(parseSocks5Replies(v6, SOCKS5_METHOD_NONE), v6.length);
    assert.equal(parseSocks5Replies(v6.subarray(0, v6.length - 1), SOCKS5_METHOD_NONE), 0);
    const domain = Buffer.concat([hex('0500 05000003 09'), Buffer.from('localhost'), hex('0050'), Buffer.from('x')]);
    assert.equal(parseSocks5Replies(domain, SOCKS5_METHOD_NONE), domain.length - 1);
  });

  it('rejects a server that is not SOCKS5', () => {
    rejects(Buffer.from('HTTP/1.1 400'), SOCKS5_METHOD_NONE, 'protocol_error', /not a SOCKS5 reply \(version byte 72\)/);
    rejects(hex('0500 04000001'), SOCKS5_METHOD_NONE, 'protocol_error', /not a SOCKS5 CONNECT reply \(version byte 4\)/);
  });

  it('maps method selections that were not offered', () => {
    rejects(hex('05ff'), SOCKS5_METHOD_USERPASS, 'auth_failed', /does not accept username\/password/);
    rejects(hex('05ff'), SOCKS5_METHOD_NONE, 'auth_failed', /requires authentication but no credentials .*method 255/);
    rejects(hex('0502'), SOCKS5_METHOD_NONE, 'auth_failed', /requires authentication but no credentials .*method 2/);
    rejects(hex('0500'), SOCKS5_METHOD_USERPASS, 'protocol_error', /chose SOCKS5 method 0, which was not offered \(offered 2\)/);
    rejects(hex('0501'), SOCKS5_METHOD_NONE, 'protocol_error', /chose SOCKS5 method 1/);
  });

  it('fails on a rejected username/password without waiting for more bytes', () => {
    rejects(hex('0502 0101'), SOCKS5_METHOD_USERPASS, 'auth_failed', /rejected the username\/password \(RFC 1929 status 1\)/);
  });

  it('accepts an auth reply that echoes version 5 (non-conforming servers)', () => {
    const reply = hex('0502 0500 05000001 7f000001 1f90');
    assert.equal(parseSocks5Replies(reply, SOCKS5_METHOD_USERPASS), reply.length);
  });

  it('maps every CONNECT reply code as soon as it arrives', () => {
    const cases: Array<[number, string, RegExp]> = [
      [1, 'proxy_refused', /general SOCKS server failure \(SOCKS5 reply 1\)/],
      [2, 'target_refused', /connection not allowed by ruleset \(SOCKS5 reply 2\)/],
      [3, 'target_unreachable', /network unreachable \(SOCKS5 reply 3\)/],
      [4, 'target_unreachable', /host unreachable \(SOCKS5 reply 4\)/],
      [5, 'target_unreachable', /connection refused by destination \(SOCKS5 reply 5\)/],
      [6, 'target_unreachable', /TTL expired \(SOCKS5 reply 6\)/],
      [7, 'proxy_refused', /command not supported \(SOCKS5 reply 7\)/],
      [8, 'proxy_refused', /address type not supported \(SOCKS5 reply 8\)/],
      [9, 'protocol_error', /unknown SOCKS5 reply 9/],
    ];
    for (const [code, reason, message] of cases) {
      rejects(Buffer.from([5, 0, 5, code]), SOCKS5_METHOD_NONE, reason, message);
    }
  });

  it('rejects an unknown bound address type', () => {
    rejects(hex('0500 05000002 00'), SOCKS5_METHOD_NONE, 'protocol_error', /unknown address type 2/);
  });
});
