import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DialError } from './dial-error.js';
import {
  connectRequest,
  HTTP_WITH_CREDENTIALS,
  HTTP_WITHOUT_CREDENTIALS,
  MAX_RESPONSE_HEAD,
  parseConnectResponse,
  proxyAuthorizationLine,
} from './http-connect-protocol.js';

function rejects(response: string | Buffer, reason: string, message: RegExp, credentials: 0 | 1 = HTTP_WITHOUT_CREDENTIALS): void {
  const bytes = typeof response === 'string' ? Buffer.from(response, 'latin1') : response;
  assert.throws(
    () => parseConnectResponse(bytes, credentials),
    (error: unknown) => error instanceof DialError && error.reason === reason && message.test(error.message),
  );
}

describe('connectRequest / proxyAuthorizationLine', () => {
  it('writes request line and Host, with brackets for IPv6', () => {
    assert.equal(
      connectRequest('', { host: 'example.com', port: 443 }).toString('latin1'),
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    );
    assert.equal(
      connectRequest('', { host: '2001:db8::5', port: 80 }).toString('latin1'),
      'CONNECT [2001:db8::5]:80 HTTP/1.1\r\nHost: [2001:db8::5]:80\r\n\r\n',
    );
  });

  it('adds Basic credentials (RFC 7617, UTF-8)', () => {
    const line = proxyAuthorizationLine('alice', 'pä:ss');
    assert.equal(line, `Proxy-Authorization: Basic ${Buffer.from('alice:pä:ss', 'utf8').toString('base64')}\r\n`);
    assert.equal(
      connectRequest(line, { host: '203.0.113.5', port: 80 }).toString('latin1'),
      `CONNECT 203.0.113.5:80 HTTP/1.1\r\nHost: 203.0.113.5:80\r\n${line}\r\n`,
    );
    assert.equal(proxyAuthorizationLine(undefined, undefined), '');
  });

  it('refuses a username with a colon, which Basic cannot carry', () => {
    assert.throws(
      () => proxyAuthorizationLine('a:b', 'c'),
      (error: unknown) => error instanceof DialError && error.reason === 'invalid_request' && /must not contain ":"/.test(error.message),
    );
  });
});

describe('parseConnectResponse', () => {
  const ok = 'HTTP/1.1 200 Connection established\r\nProxy-Agent: tinyproxy/1.11.1\r\n\r\n';

  it('is incomplete for every strict prefix and complete at the blank line', () => {
    const bytes = Buffer.from(ok, 'latin1');
    for (let length = 0; length < bytes.length; length++) {
      assert.equal(parseConnectResponse(bytes.subarray(0, length), HTTP_WITHOUT_CREDENTIALS), 0, `prefix of ${length} bytes`);
    }
    assert.equal(parseConnectResponse(bytes, HTTP_WITHOUT_CREDENTIALS), bytes.length);
  });

  it('finds the same end whatever the chunks, told how many bytes an earlier call saw (seen): every split of every head', () => {
    const heads = ['HTTP/1.1 200 OK\r\nA: b\r\n\r\ntunnel', 'HTTP/1.0 200 OK\n\nx', 'HTTP/1.1 200 OK\r\nA: b\n\r\n', 'HTTP/1.1 200 OK\nA: b\r\nC: d\n\n', 'HTTP/1.1 204\r\n\r\n'];
    for (const head of heads) {
      const bytes = Buffer.from(head, 'latin1');
      const whole = parseConnectResponse(bytes, HTTP_WITHOUT_CREDENTIALS);
      assert.ok(whole > 0, head);
      // Two chunks split anywhere, then three: the second call knows the first call's bytes.
      for (let a = 1; a < bytes.length; a++) {
        for (let b = a; b <= bytes.length; b++) {
          let seen = 0;
          let found = 0;
          for (const end of [a, b, bytes.length]) {
            if (end <= seen || found > 0) continue;
            found = parseConnectResponse(bytes.subarray(0, end), HTTP_WITHOUT_CREDENTIALS, seen);
            seen = end;
          }
          assert.equal(found, whole, `${JSON.stringify(head)} split at ${a}, ${b}`);
        }
      }
    }
  });

  it('returns the head length so pipelined target bytes stay for the caller', () => {
    const bytes = Buffer.from(`${ok}SSH-2.0-banner\r\n\r\n`, 'latin1');
    assert.equal(parseConnectResponse(bytes, HTTP_WITHOUT_CREDENTIALS), ok.length);
  });

  it('accepts HTTP/1.0, any 2xx, no headers and no reason phrase', () => {
    for (const head of ['HTTP/1.0 200 OK\r\n\r\n', 'HTTP/1.1 204\r\n\r\n', 'HTTP/1.1 299 Whatever\r\nA: b\r\n\r\n']) {
      assert.equal(parseConnectResponse(Buffer.from(head, 'latin1'), HTTP_WITHOUT_CREDENTIALS), head.length, head);
    }
  });

  // RFC 9112 section 2.2: a recipient may take a bare LF for a line's end; small proxies send them.
  it('takes bare LF line ends (alone or mixed with CRLF) as ending the head, the tunnel bytes after it kept apart', () => {
    for (const head of ['HTTP/1.0 200 OK\n\n', 'HTTP/1.1 200 Connection established\nProxy-Agent: x\n\n', 'HTTP/1.1 200 OK\r\nA: b\n\n', 'HTTP/1.1 200 OK\nA: b\r\n\r\n', 'HTTP/1.1 200 OK\n\r\n']) {
      assert.equal(parseConnectResponse(Buffer.from(`${head}early`, 'latin1'), HTTP_WITHOUT_CREDENTIALS), head.length, JSON.stringify(head));
      assert.equal(parseConnectResponse(Buffer.from(head.slice(0, -1), 'latin1'), HTTP_WITHOUT_CREDENTIALS), 0, `${JSON.stringify(head)} without its last byte is not complete`);
    }
    assert.equal(parseConnectResponse(Buffer.from('HTTP/1.1 200 OK\nA: b\rc\n', 'latin1'), HTTP_WITHOUT_CREDENTIALS), 0, 'a lone CR is no line end');
  });

  it('maps 407 and 401 to auth_failed, worded by whether credentials were sent', () => {
    const head = 'HTTP/1.1 407 Proxy Authentication Required\r\n';
    rejects(head, 'auth_failed', /requires authentication but no credentials .*"HTTP\/1.1 407 Proxy Authentication Required"$/);
    rejects(head, 'auth_failed', /rejected the credentials: "HTTP\/1.1 407/, HTTP_WITH_CREDENTIALS);
    rejects('HTTP/1.0 401 Unauthorized\r\n', 'auth_failed', /rejected the credentials: "HTTP\/1.0 401 Unauthorized"/, HTTP_WITH_CREDENTIALS);
    // The dial's error names the auth step, not the reply.
    assert.throws(
      () => parseConnectResponse(Buffer.from(head, 'latin1'), HTTP_WITH_CREDENTIALS),
      (error: unknown) => error instanceof DialError && error.step === 'auth',
    );
  });

  it('maps other statuses as soon as the status line is complete: 403 the target refused, 5xx the target unreached, the rest the proxy refusing', () => {
    rejects('HTTP/1.0 403 Access violation\r\n', 'target_refused', /refused the CONNECT: "HTTP\/1.0 403 Access violation"/);
    rejects('HTTP/1.1 500 Unable to connect\r\nContent-Type: text/html', 'target_unreachable', /"HTTP\/1.1 500 Unable to connect"/);
    for (const status of ['502 Bad Gateway', '503 Service Unavailable', '504 Gateway Timeout']) rejects(`HTTP/1.1 ${status}\r\n`, 'target_unreachable', new RegExp(status));
    rejects('HTTP/1.1 405 Method Not Allowed\r\n', 'proxy_refused', /405 Method Not Allowed/);
    rejects('HTTP/1.1 100 Continue\r\n\r\n', 'proxy_refused', /100 Continue/);
    rejects('HTTP/1.1 302 Found\r\n', 'proxy_refused', /302 Found/);
  });

  it('rejects what is not an HTTP/1.x status line, showing it sanitized', () => {
    rejects('SSH-2.0-OpenSSH_9.2\r\n', 'protocol_error', /not an HTTP\/1.x status line: "SSH-2.0-OpenSSH_9.2"/);
    rejects('HTTP/2 200\r\n\r\n', 'protocol_error', /not an HTTP\/1.x status line/);
    rejects('HTTP/1.1 20x OK\r\n\r\n', 'protocol_error', /status line/);
    rejects('HTTP/1.1 2000 OK\r\n\r\n', 'protocol_error', /status line/);
    rejects(Buffer.from([0x05, 0x00, 0x0a]), 'protocol_error', /status line: "\?\?"/);
  });

  it('rejects a head that does not end within the size bound', () => {
    const longHeader = `HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(MAX_RESPONSE_HEAD)}`;
    rejects(longHeader, 'protocol_error', /exceeds 8192 bytes/);
    rejects('x'.repeat(MAX_RESPONSE_HEAD), 'protocol_error', /exceeds 8192 bytes/);
    const endsTooLate = `HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(MAX_RESPONSE_HEAD - 24)}\r\n\r\n`;
    assert.ok(endsTooLate.length > MAX_RESPONSE_HEAD);
    rejects(endsTooLate, 'protocol_error', /exceeds 8192 bytes/);
    const fits = `HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(MAX_RESPONSE_HEAD - 30)}\r\n\r\n`;
    assert.ok(fits.length <= MAX_RESPONSE_HEAD);
    assert.equal(parseConnectResponse(Buffer.from(fits, 'latin1'), HTTP_WITHOUT_CREDENTIALS), fits.length);
  });
});
