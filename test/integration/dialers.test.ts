// The dialers against real dante (SOCKS5) and tinyproxy (HTTP CONNECT) on loopback addresses
// of the root namespace (listening sockets only, no nft), dialing a local TCP target.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DialError, dialerFor, type DialFailureReason, type DialOptions, type DialTarget } from '@pgw/dialers';
import { parseProxyUrl, type ProxyEndpoint } from '@pgw/domain';
import { startDante, startProxies, startTinyproxy } from '../../lab/proxies.js';
import type { ProxyHandle } from '../../lab/types.js';

const SUBNET = `127.61.${randomInt(1, 250)}`;
const DIAL: DialOptions = { timeoutMs: 3000 };
const LATENCY_DIALS = 200;

/** Echoes everything; when the client half-closes, still answers with a trailer, then ends. */
function startEchoTarget(): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let received = 0;
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.write(chunk);
    });
    socket.on('end', () => socket.end(`<after your FIN: got ${received} bytes>`));
  });
  return listen(server, '127.0.0.1');
}

/** Speaks first and half-closes at once; reports what the client sent after that FIN. */
function startGreeterTarget(lateBytes: (text: string) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      lateBytes(Buffer.concat(chunks).toString());
      socket.destroy();
    });
    socket.end('hello from the target\n');
  });
  return listen(server, '127.0.0.1');
}

/** Accepts, reads and discards, never says a word: a proxy that hangs in the handshake. */
function startSilentServer(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    // Reading lets it see our FIN and close, so the fd check below counts only the dialer's fds.
    socket.resume();
  });
  return listen(server, SUBNET + '.9');
}

function listen(server: net.Server, host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(server));
  });
}

function targetOf(server: net.Server): DialTarget {
  const address = server.address() as net.AddressInfo;
  return { host: address.address, port: address.port };
}

/** A loopback port with nothing listening: bound then closed, so nothing else holds it. */
async function closedPort(host: string): Promise<number> {
  const server = await listen(net.createServer(), host);
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function readAll(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.once('error', reject);
  });
}

/** Writes text and resolves once the echo target has sent all of it back. */
function echoed(socket: net.Socket, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer): void => {
      received += chunk.toString();
      if (received.length < text.length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      if (received === text) resolve();
      else reject(new Error(`echo differs: ${received.length} bytes back for ${text.length} sent`));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(text);
  });
}

function closed(socket: net.Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}

async function dialFails(
  proxy: ProxyEndpoint,
  target: DialTarget,
  options: DialOptions,
  reason: DialFailureReason,
  message: RegExp,
): Promise<DialError> {
  let failure: unknown;
  try {
    const socket = await dialerFor(proxy.protocol).dial(proxy, target, options);
    socket.destroy();
  } catch (error) {
    failure = error;
  }
  assert.ok(failure instanceof DialError, `expected a DialError(${reason}), got ${String(failure)}`);
  assert.equal(failure.reason, reason, failure.message);
  assert.match(failure.message, message);
  return failure;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * This process' open descriptors as `fd -> what it points at` (socket:[inode] for sockets). A leak is
 * a descriptor at the end that was not open at the start: counting them instead failed CI when a
 * socket of an earlier test closed during the rounds (29 !== 30).
 */
function openDescriptors(): Set<string> {
  const open = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      open.add(`${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // closed between the listing and the readlink (readdir's own descriptor, for one)
    }
  }
  return open;
}

function newDescriptors(baseline: Set<string>): string[] {
  return [...openDescriptors()].filter((entry) => !baseline.has(entry));
}

describe('dialers against real proxies on loopback', { timeout: 120_000 }, () => {
  const credentials = { username: 'pgw-dial-test', password: randomBytes(12).toString('base64url') };
  const handles: ProxyHandle[] = [];
  const servers: net.Server[] = [];
  const late: string[] = [];
  let echo: DialTarget;
  let greeter: DialTarget;
  let silent: ProxyEndpoint;
  let socks: ProxyEndpoint;
  let socksAuth: ProxyEndpoint;
  let http: ProxyEndpoint;
  let httpAuth: ProxyEndpoint;

  before(async () => {
    const echoServer = await startEchoTarget();
    const greeterServer = await startGreeterTarget((text) => late.push(text));
    const silentServer = await startSilentServer();
    servers.push(echoServer, greeterServer, silentServer);
    echo = targetOf(echoServer);
    greeter = targetOf(greeterServer);
    silent = { protocol: 'socks5', ...targetOf(silentServer) } as ProxyEndpoint;
    const started = await startProxies([
      startDante({ ip: `${SUBNET}.1`, port: 1080 }),
      startDante({ ip: `${SUBNET}.2`, port: 1080, auth: credentials }),
      startTinyproxy({ ip: `${SUBNET}.3`, port: 3128 }),
      startTinyproxy({ ip: `${SUBNET}.4`, port: 3128, auth: credentials }),
    ], handles);
    [socks, socksAuth, http, httpAuth] = started.map((handle) => parseProxyUrl(handle.url)) as [
      ProxyEndpoint,
      ProxyEndpoint,
      ProxyEndpoint,
      ProxyEndpoint,
    ];
  });

  after(async () => {
    await Promise.allSettled(handles.map((handle) => handle.stop()));
    for (const server of servers) server.close();
  });

  const each = (): Array<[string, ProxyEndpoint]> => [
    ['dante, no auth', socks],
    ['dante, username auth (greeting+auth+CONNECT pipelined)', socksAuth],
    ['tinyproxy, no auth', http],
    ['tinyproxy, BasicAuth', httpAuth],
  ];

  it('relays bytes both ways and half-closes towards the target', async () => {
    for (const [name, proxy] of each()) {
      const socket = await dialerFor(proxy.protocol).dial(proxy, echo, DIAL);
      const payload = randomBytes(64 * 1024).toString('hex');
      const reply = readAll(socket);
      await echoed(socket, payload);
      // After our FIN the target must still be able to answer.
      socket.end();
      const trailer = (await reply).slice(payload.length);
      if (proxy.protocol === 'socks5') {
        assert.equal(trailer, `<after your FIN: got ${payload.length} bytes>`, name);
      } else {
        // tinyproxy ends the whole tunnel at the first FIN (its relay loop stops on EOF), so
        // the target's answer after our FIN is lost: a property of the proxy, not the dialer.
        assert.equal(trailer, '', name);
      }
      await closed(socket);
    }
  });

  it('delivers a target that speaks first and keeps our side writable after its FIN', async () => {
    for (const [name, proxy] of each()) {
      const socket = await dialerFor(proxy.protocol).dial(proxy, greeter, DIAL);
      assert.equal(await readAll(socket), 'hello from the target\n', name);
      assert.equal(socket.writable, true, `${name}: allowHalfOpen keeps our side open`);
      if (proxy.protocol === 'socks5') {
        const before = late.length;
        socket.end('sent after the target FIN');
        await closed(socket);
        for (let i = 0; i < 100 && late.length === before; i++) await sleep(10);
        assert.equal(late.at(-1), 'sent after the target FIN', name);
      } else {
        socket.destroy(); // tinyproxy closed the tunnel with the target's FIN, see above
      }
    }
  });

  it('sets TCP keepalive unless disabled (seen by ss as a keepalive timer)', async () => {
    const keepaliveTimer = (socket: net.Socket): boolean => {
      const filter = `( sport = :${socket.localPort} and dport = :${socket.remotePort} )`;
      const line = execFileSync('ss', ['-tnoH', 'state', 'established', filter], { encoding: 'utf8', timeout: 5000 });
      assert.notEqual(line.trim(), '', 'ss does not show the dialed connection');
      return line.includes('timer:(keepalive');
    };
    for (const [name, proxy] of each()) {
      const withKeepalive = await dialerFor(proxy.protocol).dial(proxy, echo, DIAL);
      const without = await dialerFor(proxy.protocol).dial(proxy, echo, { ...DIAL, keepAlive: false });
      assert.equal(keepaliveTimer(withKeepalive), true, name);
      assert.equal(keepaliveTimer(without), false, name);
      withKeepalive.destroy();
      without.destroy();
    }
  });

  it('dials a hostname target (resolved by the proxy)', async () => {
    for (const [name, proxy] of each()) {
      const socket = await dialerFor(proxy.protocol).dial(proxy, { host: 'localhost', port: echo.port }, DIAL);
      await echoed(socket, `ping through ${name}`);
      socket.destroy();
    }
  });

  it('wrong or missing credentials give auth_failed', async () => {
    const wrong = { username: credentials.username, password: 'wrong-password' };
    await dialFails({ ...socksAuth, ...wrong }, echo, DIAL, 'auth_failed', /rejected the username\/password|does not accept/);
    await dialFails({ ...httpAuth, ...wrong }, echo, DIAL, 'auth_failed', /rejected the credentials: "HTTP\/1.\d 40[17]/);
    await dialFails(
      { protocol: 'socks5', host: socksAuth.host, port: socksAuth.port },
      echo,
      DIAL,
      'auth_failed',
      /requires authentication but no credentials/,
    );
    await dialFails(
      { protocol: 'http', host: httpAuth.host, port: httpAuth.port },
      echo,
      DIAL,
      'auth_failed',
      /requires authentication but no credentials/,
    );
  });

  it('a closed proxy port gives connect_refused', async () => {
    const port = await closedPort(`${SUBNET}.5`);
    for (const protocol of ['socks5', 'http'] as const) {
      const proxy = { protocol, host: `${SUBNET}.5`, port } as ProxyEndpoint;
      await dialFails(proxy, echo, DIAL, 'connect_refused', /proxy refused the TCP connection \(ECONNREFUSED\)/);
    }
  });

  it('a target the proxy cannot reach is reported as such', async () => {
    const target = { host: '127.0.0.1', port: await closedPort('127.0.0.1') };
    await dialFails(socks, target, DIAL, 'target_unreachable', /connection refused by destination \(SOCKS5 reply 5\)/);
    await dialFails(http, target, DIAL, 'target_unreachable', /proxy refused the CONNECT: "HTTP\/1.\d 5\d\d/);
  });

  it('a proxy that never answers the handshake gives connect_timeout within the timeout', async () => {
    for (const protocol of ['socks5', 'http'] as const) {
      const started = performance.now();
      await dialFails({ ...silent, protocol }, echo, { timeoutMs: 300 }, 'connect_timeout', /did not complete the .* handshake within 300 ms/);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 295 && elapsed < 1300, `${protocol}: timed out after ${elapsed.toFixed(0)} ms`);
    }
  });

  it('abort via signal, before and during the dial', async () => {
    const early = AbortSignal.abort();
    await dialFails(socks, echo, { timeoutMs: 3000, signal: early }, 'aborted', /dial aborted by the caller/);
    for (const protocol of ['socks5', 'http'] as const) {
      const controller = new AbortController();
      const started = performance.now();
      setTimeout(() => controller.abort(), 50);
      await dialFails({ ...silent, protocol }, echo, { timeoutMs: 5000, signal: controller.signal }, 'aborted', /aborted/);
      assert.ok(performance.now() - started < 1000, `${protocol}: abort took too long`);
    }
  });

  it('leaks no file descriptors on refused, timed-out, aborted and rejected dials', async () => {
    const refusedPort = await closedPort(`${SUBNET}.5`);
    const baseline = openDescriptors();
    for (let round = 0; round < 5; round++) {
      const attempts = [
        dialerFor('socks5').dial({ ...socks, port: refusedPort } as ProxyEndpoint, echo, DIAL),
        dialerFor('http').dial({ ...silent, protocol: 'http' }, echo, { timeoutMs: 100 }),
        dialerFor('socks5').dial(silent, echo, { timeoutMs: 5000, signal: AbortSignal.timeout(50) }),
        dialerFor('socks5').dial({ ...socksAuth, password: 'wrong-password' }, echo, DIAL),
        dialerFor('http').dial({ ...httpAuth, password: 'wrong-password' }, echo, DIAL),
      ];
      const outcomes = await Promise.allSettled(attempts);
      assert.ok(outcomes.every((outcome) => outcome.status === 'rejected'));
    }
    for (let i = 0; i < 50 && newDescriptors(baseline).length > 0; i++) await sleep(20);
    assert.deepEqual(newDescriptors(baseline), [], 'descriptors opened by the dials and still open');
  });

  it('rejects bad targets before any connection is made', async () => {
    await dialFails(socks, { host: 'evil\r\nHost: x', port: 80 }, DIAL, 'invalid_request', /is not an IP address or hostname/);
    await dialFails(http, { host: 'example.com', port: 0 }, DIAL, 'invalid_request', /target port 0/);
  });

  it('measures dial latency over sequential dials (printed, not asserted)', async (t: TestContext) => {
    const rows: Array<Record<string, string | number>> = [];
    const measure = async (name: string, dial: () => Promise<net.Socket>): Promise<void> => {
      const samples: number[] = [];
      for (let i = 0; i < LATENCY_DIALS; i++) {
        const started = performance.now();
        const socket = await dial();
        samples.push(performance.now() - started);
        socket.destroy();
      }
      samples.sort((a, b) => a - b);
      const row = {
        path: name,
        dials: samples.length,
        p50_ms: Number(percentile(samples, 50).toFixed(3)),
        p95_ms: Number(percentile(samples, 95).toFixed(3)),
        p99_ms: Number(percentile(samples, 99).toFixed(3)),
      };
      rows.push(row);
      t.diagnostic(`${name}: p50 ${row.p50_ms} ms, p95 ${row.p95_ms} ms, p99 ${row.p99_ms} ms over ${row.dials} dials`);
    };
    await measure('direct TCP connect (baseline)', () =>
      new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(echo.port, echo.host, () => resolve(socket));
        socket.once('error', reject);
      }),
    );
    for (const [name, proxy] of each()) await measure(name, () => dialerFor(proxy.protocol).dial(proxy, echo, DIAL));
    t.diagnostic(JSON.stringify({ dialLatency: rows }));
  });
});

// Byte-exact edges real proxies do not produce on demand: reply and target data in one segment,
// a reply dribbled byte by byte. The peer is a scripted TCP server; it tests our socket
// handling (buffering, unshift, stream mode), not compatibility, which the suite above covers.
describe('dialer socket handling against a scripted peer', { timeout: 30_000 }, () => {
  const SOCKS_OK = Buffer.from([5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 80]);
  const HTTP_OK = Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n');
  const EARLY = 'SSH-2.0-early-bytes-from-the-target\r\n';

  /** Waits for the whole request, then answers with `reply` in one write or byte by byte. */
  async function scriptedPeer(requestEnd: (bytes: Buffer) => boolean, reply: Buffer, dribble: boolean): Promise<net.Server> {
    const server = net.createServer((socket) => {
      let request = Buffer.alloc(0);
      socket.on('error', () => socket.destroy());
      socket.on('data', async (chunk: Buffer) => {
        request = Buffer.concat([request, chunk]);
        if (!requestEnd(request)) return;
        socket.removeAllListeners('data');
        socket.resume();
        if (!dribble) return void socket.write(reply);
        for (const byte of reply) {
          socket.write(Buffer.from([byte]));
          await sleep(2);
        }
      });
    });
    return listen(server, '127.0.0.1');
  }

  const socksRequestEnd = (bytes: Buffer): boolean => bytes.length >= 3 + 10;
  const httpRequestEnd = (bytes: Buffer): boolean => bytes.includes('\r\n\r\n');

  for (const dribble of [false, true]) {
    it(`keeps target bytes that follow the reply (${dribble ? 'reply dribbled byte by byte' : 'same segment'})`, async () => {
      const cases: Array<[ProxyEndpoint['protocol'], (bytes: Buffer) => boolean, Buffer]> = [
        ['socks5', socksRequestEnd, Buffer.concat([SOCKS_OK, Buffer.from(EARLY)])],
        ['http', httpRequestEnd, Buffer.concat([HTTP_OK, Buffer.from(EARLY)])],
      ];
      for (const [protocol, requestEnd, reply] of cases) {
        const peer = await scriptedPeer(requestEnd, reply, dribble);
        try {
          const proxy = { protocol, ...targetOf(peer) } as ProxyEndpoint;
          const socket = await dialerFor(protocol).dial(proxy, { host: '203.0.113.5', port: 80 }, DIAL);
          // Consumed through pipe(), as the forwarder's relay does.
          const sink = new PassThrough();
          socket.pipe(sink);
          let received = '';
          for await (const chunk of sink) {
            received += String(chunk);
            if (received.length >= EARLY.length) break;
          }
          assert.equal(received, EARLY, protocol);
          socket.destroy();
        } finally {
          peer.close();
        }
      }
    });
  }
});
