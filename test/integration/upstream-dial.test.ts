// The forwarder's native upstream dial (PGW_FORWARDER_DIAL=native, issue 12) against proxies
// written here on loopback: what the JavaScript dialers handle must hold when the connect and the
// SOCKS5 / HTTP CONNECT exchanges run in the addon. Answers split byte by byte, domain and IPv6
// BND.ADDR, the target's first bytes in the same segment as the answer, both SOCKS5 handshakes,
// a warm connection's descriptor; and every failure (refusal codes, 407, closes, the timeout, a
// refused connect) must give the JavaScript dialer's own error, reason and step, compared here
// against a JavaScript dial to the same server. No descriptor may be left behind.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { constants } from 'node:os';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { DialAbort, DialError, type DialOptions, dialerFor, WarmPool } from '@pgw/dialers';
import type { ProxyEndpoint, ProxyHandshake } from '@pgw/domain';
import { closeFd, describeSocket, type DialRelay, dialNative, dupFd, dialNativeOnFd, type NativeDialFailure, type NativeDialStage, watchDescriptor } from '@pgw/original-dst';
import { dialUpstream, isNativeUpstream, type NativeUpstream, type NativeWarm, nativeWarmConnector } from '../../services/forwarder/src/tcp/native-dial.js';
import { Relay, type RelayMode } from '../../services/forwarder/src/tcp/relay.js';
import { rawDescriptor, readUntilEnd } from '../support/stream-end.js';
import { EPOLLIN, EPOLLOUT, EPOLLRDHUP, epollEntries, epollInterest, epollInterestsOfFile } from '../support/epoll-interest.js';

const TARGET = { host: '203.0.113.10', port: 80 };
const CANCELLED_IDLE_DIALS = fileURLToPath(new URL('./fixtures/cancelled-idle-dials.ts', import.meta.url));
const servers: net.Server[] = [];
const proxyConnections = new Set<net.Socket>();
after(() => {
  for (const server of servers) server.close();
  // A test that failed half way leaves its proxy's script waiting: the run still ends.
  for (const socket of proxyConnections) socket.destroy();
});

/** Reads a connection's bytes on demand: need(n) resolves with the next n bytes. */
class Reader {
  private buffered = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  ended = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiting?.();
    });
    socket.on('end', () => {
      this.ended = true;
      // The proxy's side closes too once the dialer has (the servers share this process's descriptors).
      socket.end();
      this.waiting?.();
    });
    socket.on('error', () => socket.destroy());
  }

  async need(n: number): Promise<Buffer> {
    while (this.buffered.length < n) {
      if (this.ended) throw new Error(`peer ended with ${this.buffered.length} of ${n} bytes`);
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = null;
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  /** Bytes up to and including the blank line that ends an HTTP head. */
  async head(): Promise<string> {
    let end: number;
    while ((end = this.buffered.indexOf('\r\n\r\n')) === -1) {
      if (this.ended) throw new Error('peer ended before the end of the head');
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = null;
    }
    return (await this.need(end + 4)).toString('latin1');
  }

  /** Bytes that arrived beyond what was asked (a pipelined request read as a whole). */
  get pending(): number {
    return this.buffered.length;
  }
}

type Script = (reader: Reader, socket: net.Socket) => Promise<void>;

/** A proxy on loopback that runs `script` per connection. */
async function startProxy(protocol: 'socks5' | 'http', script: Script, credentials?: { username: string; password: string }): Promise<ProxyEndpoint> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    proxyConnections.add(socket);
    socket.on('close', () => proxyConnections.delete(socket));
    socket.setNoDelay(true);
    script(new Reader(socket), socket).catch(() => socket.destroy());
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return { protocol, host: '127.0.0.1', port: port as ProxyEndpoint['port'], ...credentials };
}

/** Writes `bytes` one per segment, each after a pause, so every answer arrives split. */
async function writeSplit(socket: net.Socket, bytes: Buffer): Promise<void> {
  for (const byte of bytes) {
    socket.write(Buffer.from([byte]));
    await sleep(2);
  }
}

/** The greeting (with auth for credentials) and CONNECT of a SOCKS5 dial, read and checked; then `reply`. */
async function socksExchange(reader: Reader, socket: net.Socket, reply: Buffer, split: boolean, auth = false): Promise<void> {
  const greeting = await reader.need(3);
  assert.deepEqual([...greeting], [5, 1, auth ? 2 : 0]);
  await (split ? writeSplit(socket, Buffer.from([5, auth ? 2 : 0])) : socket.write(Buffer.from([5, auth ? 2 : 0])));
  if (auth) {
    const head = await reader.need(2);
    const user = await reader.need(head[1]!);
    const passLength = (await reader.need(1))[0]!;
    await reader.need(passLength);
    assert.equal(user.toString(), 'u');
    await (split ? writeSplit(socket, Buffer.from([1, 0])) : socket.write(Buffer.from([1, 0])));
  }
  const request = await reader.need(10);
  assert.deepEqual([...request.subarray(0, 4)], [5, 1, 0, 1]);
  await (split ? writeSplit(socket, reply) : socket.write(reply));
}

/** After the answer: echoes what the client sends, upper-cased, so the tunnel is seen to carry bytes both ways. */
async function echoUpper(reader: Reader, socket: net.Socket): Promise<void> {
  const ping = await reader.need(4);
  socket.end(Buffer.from(ping.toString().toUpperCase()));
}

const SOCKS_OK_V4 = Buffer.from([5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90]);
const SOCKS_OK_DOMAIN = Buffer.concat([Buffer.from([5, 0, 0, 3, 11]), Buffer.from('example.com'), Buffer.from([0, 80])]);
const SOCKS_OK_V6 = Buffer.concat([Buffer.from([5, 0, 0, 4]), Buffer.alloc(15), Buffer.from([1, 0x1f, 0x90])]);

function options(handshake: ProxyHandshake = 'pipelined', timeoutMs = 2_000, signal?: DialAbort): DialOptions {
  return { timeoutMs, allowHalfOpen: true, handshake, ...(signal === undefined ? {} : { signal }) };
}

async function dialNativeOk(proxy: ProxyEndpoint, opts: DialOptions, pool: WarmPool<NativeWarm> | null = null, clientFd = -1, relay?: DialRelay): Promise<NativeUpstream> {
  const upstream = await dialUpstream(proxy, TARGET, opts, pool, { clientFd, relay });
  assert.ok(isNativeUpstream(upstream), 'a literal proxy address is dialed natively');
  return upstream;
}

/** The tunnel over the native dial's descriptor: the early bytes, then a ping answered by the echo. */
async function useTunnel(upstream: NativeUpstream): Promise<string> {
  const socket = new net.Socket({ fd: upstream.fd, readable: true, writable: true });
  const chunks: Buffer[] = upstream.leftover === undefined ? [] : [upstream.leftover];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write('ping');
  await once(socket, 'end');
  socket.destroy();
  return Buffer.concat(chunks).toString();
}

async function errorOf(dial: Promise<unknown>): Promise<DialError> {
  try {
    await dial;
  } catch (error) {
    assert.ok(error instanceof DialError, `a DialError, got ${String(error)}`);
    return error;
  }
  assert.fail('the dial succeeded');
}

/** The native dial fails exactly as the JavaScript dialer does against the same server. */
async function sameFailure(proxy: ProxyEndpoint, opts: DialOptions): Promise<DialError> {
  const js = await errorOf(dialerFor(proxy.protocol).dial(proxy, TARGET, opts));
  const native = await errorOf(dialUpstream(proxy, TARGET, opts, null));
  assert.deepEqual({ message: native.message, reason: native.reason, step: native.step }, { message: js.message, reason: js.reason, step: js.step });
  return native;
}

/** A loopback port nothing listens on (one that was just bound, then closed): a connect there is refused. */
async function closedLoopbackPort(): Promise<number> {
  const spare = net.createServer();
  spare.listen(0, '127.0.0.1');
  await once(spare, 'listening');
  const { port } = spare.address() as net.AddressInfo;
  spare.close();
  await once(spare, 'close');
  return port;
}

/** A client connection on loopback whose accepted end is left unread (pauseOnConnect): its descriptor and the client. */
async function clientPair(): Promise<{ fd: number; accepted: net.Socket; client: net.Socket; close(): void }> {
  const server = net.createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [net.Socket];
  server.close();
  const fd = (accepted as unknown as { _handle: { fd: number } })._handle.fd;
  return { fd, accepted, client, close: () => (client.destroy(), accepted.destroy()) };
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('native upstream dial: success answers', () => {
  it('SOCKS5 pipelined, every answer split byte by byte, a domain BND.ADDR', async () => {
    const proxy = await startProxy('socks5', async (reader, socket) => {
      await socksExchange(reader, socket, SOCKS_OK_DOMAIN, true);
      await echoUpper(reader, socket);
    });
    const upstream = await dialNativeOk(proxy, options('pipelined'));
    assert.equal(upstream.leftover, undefined);
    assert.equal(await useTunnel(upstream), 'PING');
  });

  it('SOCKS5 with an IPv6 BND.ADDR and the target\'s first bytes in the same segment as the reply', async () => {
    const proxy = await startProxy('socks5', async (reader, socket) => {
      await socksExchange(reader, socket, Buffer.concat([SOCKS_OK_V6, Buffer.from('hello ')]), false);
      await echoUpper(reader, socket);
    });
    const upstream = await dialNativeOk(proxy, options('pipelined'));
    assert.equal(upstream.leftover?.toString(), 'hello ');
    assert.equal(await useTunnel(upstream), 'hello PING');
  });

  it('SOCKS5 sequential with username/password: each request only after the previous answer', async () => {
    const proxy = await startProxy(
      'socks5',
      async (reader, socket) => {
        const greeting = await reader.need(3);
        assert.deepEqual([...greeting], [5, 1, 2]);
        // Sequential: nothing may follow the greeting before its answer.
        await sleep(20);
        assert.equal(reader.pending, 0, 'nothing pipelined after the greeting');
        await writeSplit(socket, Buffer.from([5, 2]));
        const auth = await reader.need(5);
        assert.deepEqual([...auth], [1, 1, 0x75, 1, 0x70]);
        await sleep(20);
        assert.equal(reader.pending, 0, 'nothing pipelined after the auth');
        await writeSplit(socket, Buffer.from([1, 0]));
        await reader.need(10);
        await writeSplit(socket, SOCKS_OK_V4);
        await echoUpper(reader, socket);
      },
      { username: 'u', password: 'p' },
    );
    const upstream = await dialNativeOk(proxy, options('sequential'));
    assert.equal(await useTunnel(upstream), 'PING');
  });

  it('SOCKS5 pipelined with username/password, answers split', async () => {
    const proxy = await startProxy(
      'socks5',
      async (reader, socket) => {
        await socksExchange(reader, socket, SOCKS_OK_V4, true, true);
        await echoUpper(reader, socket);
      },
      { username: 'u', password: 'p' },
    );
    assert.equal(await useTunnel(await dialNativeOk(proxy, options('pipelined'))), 'PING');
  });

  it('HTTP/1.0 200 with extra headers, split byte by byte, then the first tunnel bytes in the head\'s last segment', async () => {
    const proxy = await startProxy('http', async (reader, socket) => {
      const head = await reader.head();
      assert.match(head, /^CONNECT 203\.0\.113\.10:80 HTTP\/1\.1\r\n/);
      await writeSplit(socket, Buffer.from('HTTP/1.0 200 Connection established\r\nProxy-Agent: test\r\nX-Extra: 1\r\n\r'));
      socket.write('\nearly ');
      await echoUpper(reader, socket);
    });
    const upstream = await dialNativeOk(proxy, options());
    assert.equal(upstream.leftover?.toString(), 'early ');
    assert.equal(await useTunnel(upstream), 'early PING');
  });

  it('an HTTP proxy ending its head\'s lines with a bare LF: the tunnel opens (it waited for a CRLF CRLF that never came)', async () => {
    const proxy = await startProxy('http', async (reader, socket) => {
      await reader.head();
      socket.write('HTTP/1.0 200 Connection established\nProxy-Agent: small\n\nearly ');
      await echoUpper(reader, socket);
    });
    const upstream = await dialNativeOk(proxy, options());
    assert.equal(upstream.leftover?.toString(), 'early ');
    assert.equal(await useTunnel(upstream), 'early PING');
  });

  /** A native warm pool (descriptors, no net.Socket) for `proxy`. */
  function nativePool(proxy: ProxyEndpoint, maxAgeMs = 2_000): WarmPool<NativeWarm> {
    return new WarmPool<NativeWarm>(dialerFor(proxy.protocol), proxy, 'pipelined', { timeoutMs: 2_000, allowHalfOpen: true }, { maxPerProxy: 2, maxAgeMs, demandWindowMs: 5_000 }, undefined, nativeWarmConnector(false));
  }

  async function untilReady(pool: WarmPool<NativeWarm>): Promise<void> {
    for (let i = 0; i < 100 && pool.counts.ready === 0; i++) await sleep(10);
    assert.ok(pool.counts.ready > 0, 'a warm connection is ready');
  }

  /** SOCKS5 without auth; per CONNECT served, ms since its connection's greeting. */
  async function timedSocks(greetingAges: number[], closeIdleAfterMs?: number): Promise<ProxyEndpoint> {
    return startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      const greetedAt = performance.now();
      socket.write(Buffer.from([5, 0]));
      if (closeIdleAfterMs !== undefined) {
        await sleep(closeIdleAfterMs);
        if (reader.pending === 0) return void socket.end();
      }
      await reader.need(10);
      greetingAges.push(performance.now() - greetedAt);
      socket.write(SOCKS_OK_V4);
      await echoUpper(reader, socket);
    });
  }

  it('a warm CONNECT the proxy answers in part and then closes is not dialed again (it read the CONNECT): native and JavaScript pools', async () => {
    let connects = 0;
    const proxy = await startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      socket.write(Buffer.from([5, 0]));
      await reader.need(10);
      connects++;
      // The reply's first bytes, then the close: the CONNECT was read.
      socket.write(SOCKS_OK_V4.subarray(0, 4));
      await sleep(20);
      socket.destroy();
    });
    const native = nativePool(proxy);
    const js = new WarmPool(dialerFor('socks5'), proxy, 'pipelined', { timeoutMs: 2_000, allowHalfOpen: true }, { maxPerProxy: 2, maxAgeMs: 2_000, demandWindowMs: 5_000 });
    try {
      for (const [name, dial] of [
        ['native', () => dialUpstream(proxy, TARGET, options(), native)],
        ['js', () => js.dial(TARGET, options())],
      ] as const) {
        // A first dial makes the pool open a warm connection for the next.
        await errorOf(dial() as Promise<unknown>);
        const pool = name === 'native' ? native : js;
        for (let i = 0; i < 100 && pool.counts.ready === 0; i++) await sleep(10);
        assert.ok(pool.counts.ready > 0, `${name}: a warm connection is ready`);
        connects = 0;
        const error = await errorOf(dial() as Promise<unknown>);
        assert.equal(error.answered, true, `${name}: ${error.message}`);
        assert.match(error.message, /in the middle of its reply/);
        assert.equal(connects, 1, `${name}: one CONNECT, on the warm connection; no new dial sent it again`);
      }
    } finally {
      native.close();
      js.close();
    }
  });

  it('a warm connection kept as a descriptor: opened natively, the CONNECT alone on it', async () => {
    const greetingAges: number[] = [];
    const proxy = await timedSocks(greetingAges);
    const pool = nativePool(proxy);
    try {
      // The first take dials anew and asks the pool to open warm connections for the next.
      assert.equal(await useTunnel(await dialNativeOk(proxy, options(), pool)), 'PING');
      await untilReady(pool);
      await sleep(100);
      assert.equal(await useTunnel(await dialNativeOk(proxy, options(), pool)), 'PING');
      assert.deepEqual(pool.takes, { used: 1, stale: 0 });
      assert.ok(greetingAges[1]! >= 90, `the CONNECT went over the warm connection greeted ${greetingAges[1]} ms before`);
    } finally {
      pool.close();
    }
  });

  it('a warm connection the proxy closes while idle is dropped from the pool, not handed to a client', async () => {
    const greetingAges: number[] = [];
    const proxy = await timedSocks(greetingAges, 100);
    const pool = nativePool(proxy);
    try {
      // The first connection's CONNECT comes before the proxy's idle close.
      assert.equal(await useTunnel(await dialNativeOk(proxy, options(), pool)), 'PING');
      await untilReady(pool);
      await sleep(250);
      // The watcher saw the close: the next client dials anew and gets its tunnel.
      assert.equal(pool.counts.ready, 0);
      assert.equal(await useTunnel(await dialNativeOk(proxy, options(), pool)), 'PING');
      assert.deepEqual(pool.takes, { used: 0, stale: 0 });
    } finally {
      pool.close();
    }
  });

  it('a warm connection whose proxy sent bytes unasked with its method selection is dropped, as the JavaScript pool drops it', async () => {
    const proxy = await startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      // A warm open sends the greeting alone; a client's dial has its CONNECT pipelined behind it.
      const warmOpen = reader.pending === 0;
      socket.write(warmOpen ? Buffer.from([5, 0, 0x58, 0x58]) : Buffer.from([5, 0]));
      await reader.need(10);
      socket.write(SOCKS_OK_V4);
      await echoUpper(reader, socket);
    });
    const pool = nativePool(proxy);
    try {
      assert.equal(await useTunnel(await dialNativeOk(proxy, options(), pool)), 'PING');
      // The opens end (with their stray bytes read) before the pool sees them lost.
      for (let i = 0; i < 100 && pool.counts.opening > 0; i++) await sleep(10);
      await sleep(50);
      assert.equal(pool.counts.ready, 0, 'no warm connection with a stray answer is kept for a client');
      assert.equal(await useTunnel(await dialNativeOk(proxy, options(), pool)), 'PING');
      assert.deepEqual(pool.takes, { used: 0, stale: 0 });
    } finally {
      pool.close();
    }
  });

  it('a proxy given by name: dialed by the JavaScript dialer, its warm connections taken over as descriptors', async () => {
    const greetingAges: number[] = [];
    const proxy = { ...(await timedSocks(greetingAges)), host: 'localhost' };
    const pool = nativePool(proxy);
    try {
      const first = await dialUpstream(proxy, TARGET, options(), pool);
      assert.ok(!isNativeUpstream(first), 'a name is dialed by the JavaScript dialer');
      first.destroy();
      await untilReady(pool);
      assert.equal(await useTunnel(await dialNativeOk(proxy, options(), pool)), 'PING');
      assert.deepEqual(pool.takes, { used: 1, stale: 0 });
    } finally {
      pool.close();
    }
  });
});

describe('native upstream dial: failures worded as the JavaScript dialer words them', () => {
  for (const [code, reason] of [
    [2, 'target_refused'],
    [5, 'target_unreachable'],
  ] as const) {
    it(`SOCKS5 reply ${code}, split`, async () => {
      const proxy = await startProxy('socks5', (reader, socket) => socksExchange(reader, socket, Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]), true));
      const error = await sameFailure(proxy, options());
      assert.equal(error.reason, reason);
      assert.equal(error.step, 'reply');
    });
  }

  it('HTTP 407 without credentials, and with rejected credentials', async () => {
    const answer: Script = async (reader, socket) => {
      await reader.head();
      await writeSplit(socket, Buffer.from('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n'));
      socket.end();
    };
    const without = await sameFailure(await startProxy('http', answer), options());
    assert.equal(without.reason, 'auth_failed');
    assert.match(without.message, /requires authentication/);
    const rejected = await sameFailure(await startProxy('http', answer, { username: 'u', password: 'wrong' }), options());
    assert.match(rejected.message, /rejected the credentials/);
  });

  it('HTTP 502 and a head that is not HTTP', async () => {
    const refusing = await startProxy('http', async (reader, socket) => {
      await reader.head();
      socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    });
    assert.equal((await sameFailure(refusing, options())).reason, 'target_unreachable');
    const garbage = await startProxy('http', async (reader, socket) => {
      await reader.head();
      socket.end('SSH-2.0-OpenSSH\r\n');
    });
    assert.equal((await sameFailure(garbage, options())).reason, 'protocol_error');
  });

  it('a hostile HTTP proxy dribbling a head that never ends (2 bytes a segment): oversize on both dials, the CPU each took printed', async () => {
    // "HTTP/1.1 200 OK" and then lines of one letter, two bytes a write, each after the reader had
    // its turn (same event loop): about 4000 reads until the head limit. Each read rescanned the
    // head from its status line (every LF of it): the forwarder's loop, shared by every mapping,
    // spent a quadratic time per such dial.
    const dribbling = await startProxy('http', async (reader, socket) => {
      await reader.head();
      socket.write('HTTP/1.1 200 OK\r\n');
      for (let i = 0; i < 4_200 && !socket.destroyed; i++) {
        socket.write('a\n');
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    const cpuMs = async (dial: () => Promise<unknown>) => {
      const before = process.cpuUsage();
      const error = await errorOf(dial() as Promise<unknown>);
      const used = process.cpuUsage(before);
      return { error, ms: (used.user + used.system) / 1000 };
    };
    const js = await cpuMs(() => dialerFor('http').dial(dribbling, TARGET, options('pipelined', 10_000)));
    const native = await cpuMs(() => dialUpstream(dribbling, TARGET, options('pipelined', 10_000), null));
    console.log(`# a head dribbled 2 bytes a segment to the limit: JavaScript dial ${js.ms.toFixed(1)} ms CPU, native ${native.ms.toFixed(1)} ms (this process: the proxy's writes included)`);
    for (const { error } of [js, native]) {
      assert.equal(error.reason, 'protocol_error');
      assert.match(error.message, /exceeds 8192 bytes without ending/);
    }
  });

  it('SOCKS5 method 0xff, and rejected credentials', async () => {
    const noMethod = await startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      socket.end(Buffer.from([5, 0xff]));
    });
    assert.equal((await sameFailure(noMethod, options())).step, 'greeting');
    const badAuth = await startProxy(
      'socks5',
      async (reader, socket) => {
        await reader.need(3);
        socket.write(Buffer.from([5, 2]));
        await reader.need(5);
        socket.end(Buffer.from([1, 1]));
      },
      { username: 'u', password: 'p' },
    );
    const error = await sameFailure(badAuth, options('sequential'));
    assert.equal(error.reason, 'auth_failed');
  });

  it('a close after the method selection: pipelined and sequential', async () => {
    const closing = await startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      socket.end(Buffer.from([5, 0]));
    });
    assert.equal((await sameFailure(closing, options('pipelined'))).reason, 'pipelining_unanswered');
    const sequential = await sameFailure(closing, options('sequential'));
    assert.equal(sequential.reason, 'closed');
    assert.match(sequential.message, /after the method selection/);
  });

  it('a close in the middle of the reply, and a reset', async () => {
    const half = await startProxy('socks5', async (reader, socket) => {
      await socksExchange(reader, socket, Buffer.from([5, 0, 0]), false);
      socket.end();
    });
    assert.match((await sameFailure(half, options())).message, /in the middle of its reply/);
    const reset = await startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      socket.resetAndDestroy();
    });
    assert.equal((await sameFailure(reset, options('sequential'))).reason, 'closed');
  });

  it('no answer within the timeout, and a refused connect', async () => {
    const silent = await startProxy('socks5', async (reader) => {
      await reader.need(3);
    });
    const timedOut = await sameFailure(silent, options('pipelined', 300));
    assert.equal(timedOut.reason, 'connect_timeout');
    assert.match(timedOut.message, /within 300 ms/);
    const port = await closedLoopbackPort();
    const refused = await sameFailure({ protocol: 'socks5', host: '127.0.0.1', port: port as ProxyEndpoint['port'] }, options());
    assert.equal(refused.reason, 'connect_refused');
  });

  it('a proxy address the destination guard refuses: nothing sent', async () => {
    let connections = 0;
    const proxy = await startProxy('socks5', async () => {
      connections++;
    });
    const refused = await sameFailure(proxy, { ...options(), checkProxyAddress: (address) => ({ message: `${address} is loopback` }) });
    assert.equal(refused.reason, 'proxy_forbidden');
    assert.equal(connections, 0);
  });

  // A connect that fails within connect() itself (a broadcast address: ENETUNREACH, no packet
  // sent) is still delivered through onDone later; a cancel() before that must silence it, as it
  // silences every other dial (the forwarder's abort listener words its own failure).
  it('cancel() right after a connect that failed at once: onDone is not called', async () => {
    let calls = 0;
    const dial = dialNative('255.255.255.255', 80, [{ request: Buffer.from([5, 1, 0]), kind: 0, expect0: 5, expect1: 0 }], 1_000, () => void calls++);
    dial.cancel();
    await sleep(50);
    assert.equal(calls, 0, 'a cancelled dial calls nobody back');
    const delivered: (NativeDialFailure | null)[] = [];
    dialNative('255.255.255.255', 80, [{ request: Buffer.from([5, 1, 0]), kind: 0, expect0: 5, expect1: 0 }], 1_000, (f) => void delivered.push(f));
    await sleep(50);
    assert.deepEqual(delivered.map((f) => [f?.what, f?.errno]), [['connect', constants.errno.ENETUNREACH]], 'without the cancel, the failure is delivered');
  });

  it('refuses a timeout that is not a finite number of milliseconds', () => {
    for (const timeoutMs of [Number.POSITIVE_INFINITY, Number.NaN, 0, 2 ** 53]) {
      assert.throws(() => dialNative('127.0.0.1', 9, [], timeoutMs, () => undefined), /timeoutMs/, `timeoutMs ${timeoutMs}`);
    }
  });

  it('an abort while the proxy is silent', async () => {
    const silent = await startProxy('http', async (reader) => {
      await reader.need(40);
    });
    const abort = new DialAbort();
    const dial = errorOf(dialUpstream(silent, TARGET, options('pipelined', 5_000, abort), null));
    await sleep(50);
    abort.abort();
    const error = await dial;
    assert.equal(error.reason, 'aborted');
  });
});

/** A tunnel through an echoing SOCKS5 proxy, its descriptor held by a warm connection's watch. */
async function watchedTunnel(): Promise<{ fd: number; watch: { close(): void } }> {
  const ok = await startProxy('socks5', async (reader, socket) => {
    await socksExchange(reader, socket, SOCKS_OK_V4, false);
    await echoUpper(reader, socket);
  });
  const { fd } = await dialNativeOk(ok, options());
  return { fd, watch: watchDescriptor(fd, () => undefined) };
}

describe('native upstream dial: descriptors', () => {
  it('leaves none behind after successes, failures, timeouts and aborts', async () => {
    const ok = await startProxy('socks5', (reader, socket) => socksExchange(reader, socket, SOCKS_OK_V4, false).then(() => void socket.end()));
    const refusing = await startProxy('socks5', (reader, socket) => socksExchange(reader, socket, Buffer.from([5, 1, 0, 1, 0, 0, 0, 0, 0, 0]), false));
    const silent = await startProxy('socks5', async (reader) => {
      await reader.need(3);
    });
    // Warm-up: the first dial loads what the rest share (the addon's pipes, libuv's structures).
    closeFd((await dialNativeOk(ok, options())).fd);
    await sleep(100);
    const before = openFds();
    for (let i = 0; i < 20; i++) {
      closeFd((await dialNativeOk(ok, options())).fd);
      await errorOf(dialUpstream(refusing, TARGET, options(), null));
      await errorOf(dialUpstream(silent, TARGET, options('pipelined', 50), null));
      const abort = new DialAbort();
      const aborted = errorOf(dialUpstream(silent, TARGET, options('pipelined', 5_000, abort), null));
      abort.abort();
      await aborted;
    }
    await sleep(100);
    assert.equal(openFds(), before);
  });

  it('keepalive as on a JavaScript dialer\'s socket: 60 s idle, then 10 probes 1 s apart (a dead proxy noticed in 70 s)', async () => {
    const proxy = await startProxy('socks5', (reader, socket) => socksExchange(reader, socket, SOCKS_OK_V4, false));
    const keepalive = (fd: number) => {
      const described = describeSocket(fd);
      return [described.keepAliveIdleS, described.keepAliveIntervalS, described.keepAliveCount];
    };
    const js = (await dialerFor('socks5').dial(proxy, TARGET, options())) as net.Socket;
    const jsKeepalive = keepalive((js as unknown as { _handle: { fd: number } })._handle.fd);
    js.destroy();
    assert.deepEqual(jsKeepalive, [60, 1, 10]);
    const cold = await dialNativeOk(proxy, options());
    assert.deepEqual(keepalive(cold.fd), jsKeepalive, 'a new connection dialed here');
    closeFd(cold.fd);
    // A warm open connects on the idle connector's thread: the same socket set-up.
    const warm = await new Promise<number>((resolve, reject) =>
      dialNative('127.0.0.1', proxy.port, SOCKS5_GREETING, 2_000, (failure, fd) => (failure === null ? resolve(fd) : reject(new Error(failure.what))), { idle: true }),
    );
    assert.deepEqual(keepalive(warm), jsKeepalive, 'a warm connection opened by the idle connector');
    closeFd(warm);
  });

  it('a warm watch asks the epoll for readable and hang-up only: a writable socket wakes nobody while it waits', async () => {
    const { fd, watch } = await watchedTunnel();
    const watched = epollInterest(fd);
    assert.ok(watched !== null, `descriptor ${fd} is in an epoll of this process`);
    assert.equal(watched & EPOLLOUT, 0, `interest 0x${watched.toString(16)} while watched: no EPOLLOUT`);
    assert.equal(watched & (EPOLLIN | EPOLLRDHUP), EPOLLIN | EPOLLRDHUP, 'readable and the peer\'s end are asked for');
    watch.close();
    // The dial that takes it next writes its request at once: writable is asked for only if that write does not fit.
    const done = new Promise<NativeDialFailure | null>((resolve) => dialNativeOnFd(fd, [], 1_000, (failure) => resolve(failure)));
    const taken = epollInterest(fd)!;
    assert.equal(taken & EPOLLOUT, 0, `interest 0x${taken.toString(16)} once a dial holds it: no EPOLLOUT`);
    assert.equal(await done, null);
    closeFd(fd);
  });

  it('a dial on a connected descriptor whose request does not fit the socket buffers asks for writable then, and finishes', async () => {
    // More than loopback's send and receive buffers hold: the first send stops short (EAGAIN).
    const request = Buffer.concat([Buffer.from('CONNECT 203.0.113.10:80 HTTP/1.1\r\nX-Fill: '), Buffer.alloc(32 << 20, 'a'), Buffer.from('\r\n\r\n')]);
    let readerStarted!: () => void;
    const proxyPaused = new Promise<void>((resolve) => (readerStarted = resolve));
    const proxy = await startProxy('http', async (_reader, socket) => {
      // Counted, not buffered: the Reader's concatenation per chunk is quadratic in 32 MiB (seconds on a loaded CI machine).
      socket.removeAllListeners('data');
      socket.pause();
      readerStarted();
      await sleep(300);
      let received = 0;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received === request.length) socket.end('HTTP/1.1 200 Connection established\r\n\r\n');
      });
      socket.resume();
    });
    const connected = net.connect(proxy.port, proxy.host);
    await once(connected, 'connect');
    const fd = dupFd((connected as unknown as { _handle: { fd: number } })._handle.fd);
    connected.destroy();
    await proxyPaused;
    const started = performance.now();
    const failure = await new Promise<NativeDialFailure | null>((resolve) => {
      dialNativeOnFd(fd, [{ request, kind: 2, expect0: -1, expect1: -1 }], 20_000, (f) => resolve(f));
      const interest = epollInterest(fd)!;
      assert.equal(interest & EPOLLOUT, EPOLLOUT, `interest 0x${interest.toString(16)} while the request waits for room: EPOLLOUT`);
    });
    assert.equal(failure, null, `the dial finished (${JSON.stringify(failure)}) after ${(performance.now() - started).toFixed(0)} ms`);
    closeFd(fd);
  });

  it('a stage the addon cannot read throws and leaves the descriptor the caller\'s: nothing sent, nothing closed', async () => {
    // A kind whose number conversion throws (a Symbol) left the exception pending while the
    // constructor went on with kind 0: it watched the socket, sent the request, and node-addon-api
    // then deleted the half-built dial, whose destructor closed the caller's descriptor, which the
    // caller closes again on a throw (a double close of a number the connector thread may reuse).
    let received = 0;
    const proxy = await startProxy('socks5', async (_reader, socket) => {
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
    });
    const connected = net.connect(proxy.port, proxy.host);
    await once(connected, 'connect');
    const fd = dupFd((connected as unknown as { _handle: { fd: number } })._handle.fd);
    connected.destroy();
    try {
      const unreadable = [{ request: Buffer.from([5, 1, 0]), kind: Symbol('kind'), expect0: 5, expect1: 0 }] as unknown as NativeDialStage[];
      assert.throws(() => dialNativeOnFd(fd, unreadable, 1_000, () => undefined), TypeError);
      await sleep(100);
      assert.doesNotThrow(() => describeSocket(fd), 'the descriptor is still open');
      assert.equal(received, 0, 'nothing was sent');
    } finally {
      closeFd(fd);
    }
  });

  it('a descriptor a watch holds is refused to a dial (EBUSY) until the watch lets go', async () => {
    const { fd, watch } = await watchedTunnel();
    assert.throws(() => dialNativeOnFd(fd, [], 1_000, () => undefined), { code: 'EBUSY' }, 'a stage that did not let go first is an error, not a silent hang');
    watch.close();
    const done = await new Promise<[NativeDialFailure | null, number]>((resolve) => {
      dialNativeOnFd(fd, [], 1_000, (failure, taken) => resolve([failure, taken]));
    });
    assert.deepEqual(done, [null, fd], 'taken once the watch let go');
    closeFd(fd);
  });

  it('a tunnel given to Node and closed there: the next dial that gets its number is watched anew', async () => {
    // The addon keeps a succeeded dial's descriptor registered for the stage that takes it next
    // (native/reactor.cc); here Node takes it instead and closes it, and the number comes back.
    const ok = await startProxy('socks5', async (reader, socket) => {
      await socksExchange(reader, socket, SOCKS_OK_V4, false);
      await echoUpper(reader, socket);
    });
    let reused = 0;
    for (let i = 0; i < 5; i++) {
      const first = await dialNativeOk(ok, options());
      assert.equal(await useTunnel(first), 'PING');
      await sleep(10);
      const second = await dialNativeOk(ok, options());
      if (second.fd === first.fd) reused++;
      assert.equal(await useTunnel(second), 'PING');
    }
    assert.ok(reused > 0, 'the kernel gave a closed number to the next dial at least once');
  });
});

/** The names of this process's threads at SCHED_IDLE (policy 5, /proc/<pid>/task/<tid>/stat field 41). */
function idleThreads(): string[] {
  const names: string[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38] === '5') names.push(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return names;
}

/** dialNative's outcome as a promise: the failure, or the descriptor (closed here). */
function idleDial(port: number, stages: NativeDialStage[], timeoutMs = 2_000): Promise<NativeDialFailure | null> {
  return new Promise((resolve) => {
    dialNative('127.0.0.1', port, stages, timeoutMs, (failure, fd) => {
      if (failure === null) closeFd(fd);
      resolve(failure);
    }, { idle: true });
  });
}

const SOCKS5_GREETING: NativeDialStage[] = [{ request: Buffer.from([5, 1, 0]), kind: 0, expect0: 5, expect1: 0 }];

describe('native upstream dial: the idle connector (warm opens)', () => {
  it('connects on a thread of its own at SCHED_IDLE, named pgw-connector, and the exchanges go on as for any dial', async () => {
    let greetings = 0;
    const proxy = await startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      greetings++;
      socket.write(Buffer.from([5, 0]));
    });
    assert.equal(await idleDial(proxy.port, SOCKS5_GREETING), null);
    assert.equal(greetings, 1);
    // Named, so top -H and ps -L tell its CPU from the loop thread's.
    assert.deepEqual(idleThreads(), ['pgw-connector'], 'one SCHED_IDLE thread: the connector');
    for (let i = 0; i < 5; i++) assert.equal(await idleDial(proxy.port, SOCKS5_GREETING), null);
    assert.deepEqual(idleThreads(), ['pgw-connector'], 'the same thread for every open');
  });

  it('a refused connect is worded as for a dial connected here', async () => {
    const port = await closedLoopbackPort();
    const idle = await idleDial(port, SOCKS5_GREETING);
    assert.equal(idle?.errno, constants.errno.ECONNREFUSED);
    const here = await new Promise<NativeDialFailure | null>((resolve) => dialNative('127.0.0.1', port, SOCKS5_GREETING, 2_000, (failure) => resolve(failure)));
    assert.deepEqual(idle, here);
  });

  it('cancelled while the connector works or after: no onDone, no descriptor left', async () => {
    const proxy = await startProxy('socks5', async (reader) => {
      await reader.need(3);
    });
    assert.equal(await idleDial(proxy.port, SOCKS5_GREETING, 50).then((f) => f?.what), 'timeout');
    await sleep(100);
    const before = openFds();
    let called = 0;
    for (let i = 0; i < 20; i++) {
      const dial = dialNative('127.0.0.1', proxy.port, SOCKS5_GREETING, 2_000, () => void called++, { idle: true });
      // Half at once (the job still queued or connecting), half once its socket is here.
      if (i % 2 === 0) dial.cancel();
      else setTimeout(() => dial.cancel(), 20);
    }
    await sleep(300);
    assert.equal(called, 0);
    assert.equal(openFds(), before);
  });
  it('a warm open cancelled while still queued never connects (the pool of a proxy dropped or down dials nothing after)', async () => {
    // The connector ran every queued job, cancelled or not: a refill for a pool closed because its
    // proxy changed or was marked down connected to it later all the same (with Fast Open, its
    // greeting and credentials in the SYN), and a busy box's backlog of them connected in a burst.
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const DIALS = 50;
    const child = spawn('taskset', ['-c', '0', process.execPath, '--conditions=pgw-source', '--import', 'tsx', CANCELLED_IDLE_DIALS, String(port), String(DIALS)], { stdio: ['ignore', 'ignore', 'inherit'] });
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
    await sleep(100);
    // At most the one the connector may have taken before its cancel came.
    assert.ok(connections <= 1, `${connections} of ${DIALS} cancelled warm opens connected`);
  });
});

describe('native upstream dial: SOCKS5 early data', () => {
  /**
   * A SOCKS5 server that records, per CONNECT, the bytes that came after it before it answered.
   * auth: username/password; closeWarm: a connection greeted over 80 ms before its CONNECT (a warm
   * one) is closed unanswered instead, as a proxy that dropped it while idle would.
   */
  async function recordingSocks(before: string[], { auth = true, closeWarm = false } = {}): Promise<ProxyEndpoint> {
    return startProxy(
      'socks5',
      async (reader, socket) => {
        await reader.need(3);
        const greetedAt = performance.now();
        socket.write(Buffer.from([5, auth ? 2 : 0]));
        if (auth) {
          await reader.need(5);
          socket.write(Buffer.from([1, 0]));
        }
        await reader.need(10);
        await sleep(30);
        before.push((await reader.need(reader.pending)).toString());
        if (closeWarm && performance.now() - greetedAt > 80) return void socket.destroy();
        socket.write(SOCKS_OK_V4);
        await echoUpper(reader, socket);
      },
      auth ? { username: 'u', password: 'p' } : undefined,
    );
  }

  /** A native warm pool of one connection, handshake early-data; its first take (cold) has passed and a warm one is ready. */
  async function readyEarlyDataPool(proxy: ProxyEndpoint): Promise<WarmPool<NativeWarm>> {
    const pool = new WarmPool<NativeWarm>(dialerFor('socks5'), proxy, 'early-data', { timeoutMs: 2_000, allowHalfOpen: true }, { maxPerProxy: 1, maxAgeMs: 2_000, demandWindowMs: 5_000 }, undefined, nativeWarmConnector(false));
    assert.equal(await useTunnel(await dialNativeOk(proxy, options('early-data'), pool)), 'PING');
    for (let i = 0; i < 100 && pool.counts.ready === 0; i++) await sleep(10);
    return pool;
  }

  it('the client\'s first bytes go in the pipelined write with the CONNECT, before the reply, and are counted', async () => {
    const before: string[] = [];
    const proxy = await recordingSocks(before);
    const pair = await clientPair();
    try {
      pair.client.write('GET / HTTP/1.1\r\n\r\n');
      await sleep(20);
      const upstream = await dialNativeOk(proxy, options('early-data'), null, pair.fd);
      assert.deepEqual(before, ['GET / HTTP/1.1\r\n\r\n'], 'the proxy had the client\'s bytes before its reply');
      assert.equal(upstream.earlyBytes, 18);
      assert.equal(await useTunnel(upstream), 'PING');
      // Taken from the client's socket: nothing of them is left for the relay.
      pair.accepted.resume();
      await sleep(20);
      assert.equal(pair.accepted.bytesRead, 0);
    } finally {
      pair.close();
    }
  });

  it('a client that has sent nothing yet: the CONNECT alone, the relay carries everything', async () => {
    const before: string[] = [];
    const proxy = await recordingSocks(before);
    const pair = await clientPair();
    try {
      const upstream = await dialNativeOk(proxy, options('early-data'), null, pair.fd);
      assert.deepEqual(before, ['']);
      assert.equal(upstream.earlyBytes, 0);
      assert.equal(await useTunnel(upstream), 'PING');
    } finally {
      pair.close();
    }
  });

  it('pipelined, sequential and HTTP CONNECT never read the client', async () => {
    const before: string[] = [];
    const socks = await recordingSocks(before);
    const http = await startProxy('http', async (reader, socket) => {
      await reader.head();
      await sleep(30);
      before.push((await reader.need(reader.pending)).toString());
      socket.write('HTTP/1.1 200 OK\r\n\r\n');
      await echoUpper(reader, socket);
    });
    const pair = await clientPair();
    try {
      pair.client.write('hello');
      await sleep(20);
      for (const [proxy, handshake] of [[socks, 'pipelined'], [socks, 'sequential'], [http, 'early-data']] as const) {
        const upstream = await dialNativeOk(proxy, options(handshake), null, pair.fd);
        assert.equal(upstream.earlyBytes, 0, `${proxy.protocol} ${handshake}`);
        assert.equal(await useTunnel(upstream), 'PING');
      }
      assert.deepEqual(before, ['', '', '']);
      const [chunk] = (await (pair.accepted.resume(), once(pair.accepted, 'data'))) as [Buffer];
      assert.equal(chunk.toString(), 'hello');
    } finally {
      pair.close();
    }
  });

  it('a warm connection that fails after the early bytes left: the cold retry sends the client\'s stream whole', async () => {
    const before: string[] = [];
    const proxy = await recordingSocks(before, { auth: false, closeWarm: true });
    const pool = await readyEarlyDataPool(proxy);
    const pair = await clientPair();
    try {
      await sleep(100);
      pair.client.write('client hello');
      await sleep(20);
      // The warm connection is closed unanswered once the CONNECT and the early bytes are in: the
      // pool's stale-connection retry dials anew with the same client.
      const upstream = await dialNativeOk(proxy, options('early-data'), pool, pair.fd);
      assert.deepEqual(pool.takes, { used: 0, stale: 1 });
      assert.deepEqual(before, ['', 'client hello', 'client hello'], 'the retry carried the bytes the failed warm dial had sent');
      assert.equal(upstream.earlyBytes, 12);
      assert.equal(await useTunnel(upstream), 'PING');
    } finally {
      pool.close();
      pair.close();
    }
  });

  it('early data on a warm connection: the CONNECT and the client\'s bytes in one write', async () => {
    const before: string[] = [];
    const proxy = await recordingSocks(before, { auth: false });
    const pool = await readyEarlyDataPool(proxy);
    const pair = await clientPair();
    try {
      pair.client.write('tls hello');
      await sleep(20);
      const upstream = await dialNativeOk(proxy, options('early-data'), pool, pair.fd);
      assert.deepEqual(pool.takes, { used: 1, stale: 0 });
      assert.equal(upstream.earlyBytes, 9);
      assert.deepEqual(before, ['', 'tls hello']);
      assert.equal(await useTunnel(upstream), 'PING');
    } finally {
      pool.close();
      pair.close();
    }
  });
});

describe('native upstream dial: the relay it starts itself', () => {
  /** A SOCKS5 proxy whose reply carries the target's first bytes, then echoes the client's 4 bytes upper-cased and ends. */
  async function greetingSocks(onReplied: () => void = () => undefined): Promise<ProxyEndpoint> {
    return startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      socket.write(Buffer.from([5, 0]));
      await reader.need(10);
      socket.write(Buffer.concat([SOCKS_OK_V4, Buffer.from('HELLO ')]));
      onReplied();
      await echoUpper(reader, socket);
    });
  }

  /** A relay hand-over for the client's descriptor `fd`, and the reason its relay ends with. */
  function handOver(fd: number): { relay: DialRelay; closed: Promise<string | null> } {
    let onClosed!: (reason: string | null) => void;
    const closed = new Promise<string | null>((resolve) => (onClosed = resolve));
    return { relay: { clientFd: fd, idleTimeoutMs: 5_000, onClosed: (reason) => onClosed(reason) }, closed };
  }

  /** What the client reads until the relay ends it, and the relay's end. */
  async function clientSide(pair: Awaited<ReturnType<typeof clientPair>>, closed: Promise<string | null>): Promise<{ read: string; reason: string | null }> {
    const chunks: Buffer[] = [];
    pair.client.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = await Promise.race([once(pair.client, 'end').then(() => true), sleep(3_000).then(() => false)]);
    assert.ok(ended, `the relay did not end the client within 3 s (read ${JSON.stringify(Buffer.concat(chunks).toString())})`);
    return { read: Buffer.concat(chunks).toString(), reason: await closed };
  }

  it('SOCKS5, new and warm: the relay runs when the outcome arrives, the target\'s first bytes first, bytes counted', async () => {
    const proxy = await greetingSocks();
    const pool = new WarmPool<NativeWarm>(dialerFor('socks5'), proxy, 'pipelined', { timeoutMs: 2_000, allowHalfOpen: true }, { maxPerProxy: 1, maxAgeMs: 2_000, demandWindowMs: 5_000 }, undefined, nativeWarmConnector(false));
    try {
      for (const warm of [false, true]) {
        if (warm) for (let i = 0; i < 100 && pool.counts.ready === 0; i++) await sleep(10);
        const pair = await clientPair();
        // The client speaks first: its bytes wait in the kernel for the relay.
        pair.client.write('ping');
        const { relay: handedOver, closed } = handOver(pair.fd);
        const upstream = await dialNativeOk(proxy, options(), pool, pair.fd, handedOver);
        assert.ok(upstream.relay !== undefined, 'the dial relays');
        assert.equal(upstream.fd, -1, 'the relay holds the upstream socket');
        assert.equal(upstream.leftover, undefined, 'the relay wrote the target\'s first bytes');
        // The relay holds a duplicate: ours is closed as the forwarder closes it.
        pair.accepted.destroy();
        assert.deepEqual(await clientSide(pair, closed), { read: 'HELLO PING', reason: null });
        assert.deepEqual([upstream.relay.bytesUp, upstream.relay.bytesDown], [4, 10]);
        pair.close();
      }
      assert.deepEqual(pool.takes, { used: 1, stale: 0 }, 'the second dial went over a warm connection');
    } finally {
      pool.close();
    }
  });

  // The proxy's reset read together with its answer (one wake-up: both were in before the dial
  // looked) used to be taken off the socket by the dial and lost: the relay then read a clean end
  // and the client took the tunnel's first bytes for the whole stream.
  it('a proxy that resets right after its success answer: the client gets the bytes after it, then the reset', async () => {
    const proxy = await startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      socket.write(Buffer.from([5, 0]));
      await reader.need(10);
      socket.write(Buffer.concat([SOCKS_OK_V4, Buffer.from('HELLO ')]));
      socket.resetAndDestroy();
    });
    const pair = await clientPair();
    // Read as a C client reads it (stream-end.ts: Node could take the reset for an end here).
    const client = rawDescriptor(pair.client);
    try {
      const { relay: handedOver, closed } = handOver(pair.fd);
      const upstream = await dialNativeOk(proxy, options(), null, pair.fd, handedOver);
      assert.ok(upstream.relay !== undefined, 'the dial relays');
      pair.accepted.destroy();
      const outcome = await readUntilEnd(client);
      assert.equal(outcome.bytes.toString(), 'HELLO ');
      assert.equal(outcome.end, 'ECONNRESET', 'the client sees the proxy\'s reset, not an end of stream');
      assert.match((await closed) ?? 'clean', /relay: /);
    } finally {
      closeSync(client);
    }
  });

  /** An HTTP CONNECT proxy that answers 200, then `after` (the target's first bytes), and echoes the client's 4 bytes upper-cased. */
  function echoingHttpProxy(after: string): Promise<ProxyEndpoint> {
    return startProxy('http', async (reader, socket) => {
      await reader.head();
      socket.write(`HTTP/1.1 200 Connection established\r\n\r\n${after}`);
      await echoUpper(reader, socket);
    });
  }

  it('HTTP CONNECT: the bytes after the head reach the client before the tunnel\'s', async () => {
    const proxy = await echoingHttpProxy('HELLO ');
    const pair = await clientPair();
    pair.client.write('ping');
    const { relay: handedOver, closed } = handOver(pair.fd);
    const upstream = await dialNativeOk(proxy, options(), null, pair.fd, handedOver);
    assert.ok(upstream.relay !== undefined);
    pair.accepted.destroy();
    assert.deepEqual(await clientSide(pair, closed), { read: 'HELLO PING', reason: null });
    pair.close();
  });

  it('an idle relay asks for writable on neither socket: no edge wakes the loop until a write does not fit', async () => {
    const proxy = await echoingHttpProxy('');
    const pair = await clientPair();
    const { relay: handedOver, closed } = handOver(pair.fd);
    const upstream = await dialNativeOk(proxy, options(), null, pair.fd, handedOver);
    assert.ok(upstream.relay !== undefined);
    const clientWatch = epollInterestsOfFile(pair.fd).filter((entry) => entry.fd !== pair.fd);
    assert.equal(clientWatch.length, 1, `the relay's duplicate of the client is watched once (${JSON.stringify(clientWatch)})`);
    const reactor = epollEntries().filter((entry) => entry.epoll === clientWatch[0]!.epoll);
    assert.ok(reactor.length >= 2, 'the client and the upstream socket are in the reactor');
    for (const entry of reactor) assert.equal(entry.events & EPOLLOUT, 0, `descriptor ${entry.fd}: interest 0x${entry.events.toString(16)}, no EPOLLOUT`);
    pair.accepted.destroy();
    pair.client.write('ping');
    assert.deepEqual(await clientSide(pair, closed), { read: 'PING', reason: null });
    pair.close();
  });

  const SOCKS5_TO_TARGET: NativeDialStage[] = [
    { request: Buffer.from([5, 1, 0, 5, 1, 0, 1, 203, 0, 113, 10, 0, 80]), kind: 0, expect0: 5, expect1: 0 },
    { request: null, kind: 1, expect0: -1, expect1: -1 },
  ];

  it('cancelled between the relay\'s start and the outcome: no onDone, no onClosed, the client ends, no descriptor left', async () => {
    // The proxy's reply is judged in the loop turn after it is written; a cancel two setImmediate
    // hops after the write runs in that turn's check phase: after the relay started, before the
    // close phase that would call onDone. A loaded machine may shift a try out of that window (then
    // the cancel finds the dial open, nothing relayed): every try must call nobody and end the
    // client, and at least one must have cancelled a running relay.
    let cancel: () => void = () => undefined;
    // How each connection at the proxy ended: a cut tunnel must end in a reset, never a FIN that
    // passes the client's partial stream on to the target as whole.
    const proxyEnds: string[] = [];
    const proxy = await startProxy('socks5', async (reader, socket) => {
      socket.on('end', () => proxyEnds.push('FIN'));
      socket.on('error', (error: NodeJS.ErrnoException) => proxyEnds.push(error.code ?? 'error'));
      await reader.need(3);
      socket.write(Buffer.from([5, 0]));
      await reader.need(10);
      socket.write(Buffer.concat([SOCKS_OK_V4, Buffer.from('HELLO ')]));
      setImmediate(() => setImmediate(() => cancel()));
      await echoUpper(reader, socket);
    });
    const warmUp = await clientPair();
    await new Promise<void>((resolve) => dialNative('127.0.0.1', proxy.port, SOCKS5_TO_TARGET, 2_000, (_f, fd) => (closeFd(fd), resolve())));
    warmUp.close();
    await sleep(100);
    const before = openFds();
    const relayed: string[] = [];
    for (let i = 0; i < 8 && !relayed.includes('HELLO '); i++) {
      const pair = await clientPair();
      pair.client.write('ping');
      pair.client.on('error', () => undefined);
      let done = 0;
      let closedCalls = 0;
      const dial = dialNative('127.0.0.1', proxy.port, SOCKS5_TO_TARGET, 2_000, () => void done++, { relay: { clientFd: pair.fd, idleTimeoutMs: 5_000, onClosed: () => void closedCalls++ } });
      cancel = () => dial.cancel();
      const chunks: Buffer[] = [];
      pair.client.on('data', (chunk: Buffer) => chunks.push(chunk));
      await sleep(50);
      // The forwarder resets its own descriptor after a cancel (Relay.reset): the client's connection ends.
      pair.accepted.destroy();
      // (events.once would reject on the reset the client may get: its unread 'ping' was never relayed.)
      await Promise.race([new Promise((resolve) => pair.client.once('close', resolve)), sleep(2_000)]);
      assert.equal(pair.client.destroyed, true, 'the client\'s connection ended');
      assert.deepEqual([done, closedCalls], [0, 0], 'a cancelled dial calls nobody');
      relayed.push(Buffer.concat(chunks).toString());
      const ends = proxyEnds.length;
      for (let wait = 0; wait < 100 && proxyEnds.length === ends; wait++) await sleep(10);
      if (relayed.at(-1) === 'HELLO ') assert.equal(proxyEnds.at(-1), 'ECONNRESET', `a running relay the dial's cancel ended reached the proxy as ${proxyEnds.at(-1) ?? 'nothing'}: the cut stream looks whole`);
      pair.close();
    }
    // 'HELLO ': the relay had begun (the target's first bytes reached the client) and went with the dial.
    assert.ok(relayed.every((r) => r === '' || r === 'HELLO '), `relayed ${JSON.stringify(relayed)}`);
    assert.ok(relayed.includes('HELLO '), `no try cancelled a running relay: ${JSON.stringify(relayed)}`);
    await sleep(100);
    assert.equal(openFds(), before);
  });

  it('a cancel from within onDone leaves the relay it delivered alone', async () => {
    const proxy = await greetingSocks();
    const pair = await clientPair();
    pair.client.write('ping');
    const { relay: handedOver, closed } = handOver(pair.fd);
    let delivered: unknown;
    const dial = dialNative('127.0.0.1', proxy.port, SOCKS5_TO_TARGET, 2_000, (_failure, _fd, _leftover, _early, relay) => {
      delivered = relay;
      dial.cancel();
    }, { relay: handedOver });
    for (let i = 0; i < 100 && delivered === undefined; i++) await sleep(10);
    assert.ok(delivered !== undefined, 'the relay was delivered');
    pair.accepted.destroy();
    assert.deepEqual(await clientSide(pair, closed), { read: 'HELLO PING', reason: null });
    pair.close();
  });

  it('a relay that ends before the outcome arrives is released when the forwarder adopts it', async () => {
    // Everything is in the sockets before the answer is judged (the client's bytes and end, the
    // proxy's reply, first bytes and end): the relay finishes within its start, and its end is
    // reported (the close phase runs its callback first) before the dial's outcome.
    const proxy = await startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      socket.write(Buffer.from([5, 0]));
      await reader.need(10);
      await sleep(30);
      socket.end(Buffer.concat([SOCKS_OK_V4, Buffer.from('HELLO')]));
    });
    const pair = await clientPair();
    pair.client.end('ping');
    const read = new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      pair.client.on('data', (chunk: Buffer) => chunks.push(chunk));
      pair.client.on('end', () => resolve(Buffer.concat(chunks).toString()));
    });
    await sleep(10);
    // The client's descriptor as the forwarder holds it: a bare one (attachDescriptor closes it).
    const clientFd = dupFd(pair.fd);
    pair.accepted.destroy();
    const released: Relay[] = [];
    const started: RelayMode[] = [];
    const relay = new Relay(clientFd, { relayStarted: (mode) => started.push(mode), relayReleased: (r) => released.push(r) });
    const upstream = await dialNativeOk(proxy, options(), null, clientFd, relay.dialRelay(5_000));
    assert.ok(upstream.relay !== undefined);
    assert.equal(released.length, 0);
    relay.attachDescriptor(upstream, 5_000);
    assert.deepEqual(released, [relay], 'released once, at adoption');
    assert.deepEqual(started, ['splice'], 'counted as a kernel relay, once');
    assert.deepEqual([relay.bytesUp, relay.bytesDown], [4, 5]);
    assert.equal(await read, 'HELLO');
    pair.close();
  });

  it('where the relay cannot start (epoll refuses the client\'s descriptor) the upstream comes back whole', async () => {
    const proxy = await greetingSocks();
    // A regular file: dup() takes it, epoll_ctl refuses it (EPERM), so the dial hands over as without a relay.
    const notASocket = openSync('/dev/null', 'r');
    try {
      await sleep(50);
      const before = openFds();
      const upstream = await dialNativeOk(proxy, options(), null, -1, { clientFd: notASocket, idleTimeoutMs: 5_000, onClosed: () => assert.fail('no relay') });
      assert.equal(upstream.relay, undefined);
      assert.equal(upstream.leftover?.toString(), 'HELLO ', 'the target\'s first bytes come back for the JavaScript relay');
      assert.equal(await useTunnel(upstream), 'HELLO PING');
      await sleep(50);
      assert.equal(openFds(), before, 'the duplicate is closed');
    } finally {
      closeSync(notASocket);
    }
  });

  it('with SOCKS5 early data: the client\'s first bytes go with the CONNECT, the rest through the relay, all counted', async () => {
    const before: string[] = [];
    const proxy = await startProxy('socks5', async (reader, socket) => {
      await reader.need(3);
      socket.write(Buffer.from([5, 0]));
      await reader.need(10);
      await sleep(30);
      before.push((await reader.need(reader.pending)).toString());
      socket.write(SOCKS_OK_V4);
      const more = await reader.need(4);
      socket.end(Buffer.from(more.toString().toUpperCase()));
    });
    const pair = await clientPair();
    pair.client.write('early');
    await sleep(20);
    const { relay: handedOver, closed } = handOver(pair.fd);
    const upstream = await dialNativeOk(proxy, options('early-data'), null, pair.fd, handedOver);
    assert.deepEqual(before, ['early'], 'the client\'s bytes went before the reply');
    assert.equal(upstream.earlyBytes, 5);
    assert.ok(upstream.relay !== undefined);
    pair.accepted.destroy();
    pair.client.write('ping');
    assert.deepEqual(await clientSide(pair, closed), { read: 'PING', reason: null });
    assert.deepEqual([upstream.relay.bytesUp, upstream.relay.bytesDown], [4, 4], 'the early bytes are not relayed twice');
    pair.close();
  });
});
