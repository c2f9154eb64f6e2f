// WarmPool (@pgw/dialers, issue 12.4) against real dante and tinyproxy on loopback addresses of
// the root namespace (listening sockets only), and against a SOCKS5 server written here that
// closes a connection left idle after the method selection (a proxy with a short idle timeout).
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dialerFor, type DialOptions, type DialTarget, WarmPool } from '@pgw/dialers';
import { parseProxyUrl, type ProxyEndpoint, type ProxyHandshake } from '@pgw/domain';
import { startDante, startProxies, startTinyproxy } from '../../lab/proxies.js';
import type { ProxyHandle } from '../../lab/types.js';

const SUBNET = `127.62.${randomInt(1, 250)}`;
const OPEN = { timeoutMs: 3_000, allowHalfOpen: true };
const DIAL: DialOptions = { timeoutMs: 3_000, allowHalfOpen: true };
const SETTINGS = { maxPerProxy: 3, maxAgeMs: 2_000, demandWindowMs: 1_500 };

function listen(server: net.Server, host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(server));
  });
}

function startEcho(): Promise<net.Server> {
  return listen(
    net.createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.pipe(socket);
    }),
    '127.0.0.1',
  );
}

/**
 * SOCKS5, no auth: answers the greeting, then closes the connection when no CONNECT follows
 * within idleMs; a CONNECT in time is answered with success and the server echoes from then on.
 */
function startShortIdleSocks(idleMs: number, accepted: { count: number }): Promise<net.Server> {
  return listen(
    net.createServer((socket) => {
      accepted.count++;
      socket.on('error', () => socket.destroy());
      let stage = 0;
      let timer: NodeJS.Timeout | undefined;
      socket.on('data', (chunk: Buffer) => {
        if (stage === 0) {
          stage = 1;
          socket.write(Buffer.from([5, 0]));
          timer = setTimeout(() => socket.destroy(), idleMs);
          chunk = chunk.subarray(3);
          if (chunk.length === 0) return;
        }
        if (stage === 1) {
          clearTimeout(timer);
          stage = 2;
          socket.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 1]));
          return;
        }
        socket.write(chunk);
      });
    }),
    `${SUBNET}.9`,
  );
}

async function echoes(socket: net.Socket): Promise<void> {
  const text = randomBytes(16).toString('hex');
  const back = new Promise<string>((resolve, reject) => {
    let got = '';
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length >= text.length) resolve(got);
    });
    socket.once('error', reject);
  });
  socket.write(text);
  assert.equal(await back, text);
  socket.destroy();
}

async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

describe('WarmPool against real proxies on loopback', { timeout: 60_000 }, () => {
  const credentials = { username: 'pgw-warm-test', password: randomBytes(12).toString('base64url') };
  const handles: ProxyHandle[] = [];
  const servers: net.Server[] = [];
  let echo: DialTarget;
  let proxies: [string, ProxyEndpoint, ProxyHandshake][] = [];

  before(async () => {
    const echoServer = await startEcho();
    servers.push(echoServer);
    echo = { host: '127.0.0.1', port: (echoServer.address() as net.AddressInfo).port };
    const started = await startProxies([
      startDante({ ip: `${SUBNET}.1`, port: 1080 }),
      startDante({ ip: `${SUBNET}.2`, port: 1080, auth: credentials }),
      startTinyproxy({ ip: `${SUBNET}.3`, port: 3128, auth: credentials }),
    ], handles);
    const [socks, socksAuth, httpAuth] = started.map((handle) => parseProxyUrl(handle.url)) as [ProxyEndpoint, ProxyEndpoint, ProxyEndpoint];
    proxies = [
      ['dante, no auth', socks, 'pipelined'],
      ['dante, username auth, pipelined greeting+auth', socksAuth, 'pipelined'],
      ['dante, username auth, sequential greeting then auth', socksAuth, 'sequential'],
      ['tinyproxy, BasicAuth', httpAuth, 'pipelined'],
    ];
  });

  after(async () => {
    await Promise.allSettled(handles.map((handle) => handle.stop()));
    for (const server of servers) server.close();
  });

  it('warms up after demand, serves the next connection on a warm one, and empties once idle', async () => {
    for (const [name, proxy, handshake] of proxies) {
      const pool = new WarmPool(dialerFor(proxy.protocol), proxy, handshake, OPEN, SETTINGS);
      try {
        assert.deepEqual(pool.counts, { ready: 0, opening: 0 }, `${name}: nothing before any demand`);
        // A burst of two: the first connections dial (cold), the pool sizes itself to two.
        await Promise.all([pool.dial(echo, { ...DIAL, handshake }).then(echoes), pool.dial(echo, { ...DIAL, handshake }).then(echoes)]);
        await until(`${name}: two warm connections`, 3_000, () => pool.counts.ready === 2);
        const dialing = pool.dial(echo, { ...DIAL, handshake });
        assert.equal(pool.counts.ready, 1, `${name}: the connection took a warm one`);
        await echoes(await dialing);
        // No demand for the window: the warm connections age out and are not replaced.
        await until(`${name}: no warm connection once idle`, SETTINGS.demandWindowMs + SETTINGS.maxAgeMs + 2_000, () => pool.counts.ready + pool.counts.opening === 0);
        assert.equal(pool.isOff, false, name);
      } finally {
        pool.close();
      }
    }
  });

  it('closes every warm connection on close() and opens none after it', async () => {
    const [, proxy, handshake] = proxies[0]!;
    const pool = new WarmPool(dialerFor(proxy.protocol), proxy, handshake, OPEN, SETTINGS);
    await echoes(await pool.dial(echo, DIAL));
    await until('one warm connection', 3_000, () => pool.counts.ready === 1);
    pool.close();
    assert.deepEqual(pool.counts, { ready: 0, opening: 0 });
    await sleep(300);
    assert.deepEqual(pool.counts, { ready: 0, opening: 0 });
  });

  it('learns a shorter age from a proxy that closes idle connections, and turns off for one that closes them at once', async () => {
    const accepted = { count: 0 };
    const server = await startShortIdleSocks(600, accepted);
    servers.push(server);
    const proxy: ProxyEndpoint = { protocol: 'socks5', host: `${SUBNET}.9`, port: (server.address() as net.AddressInfo).port as ProxyEndpoint['port'] };
    const pool = new WarmPool(dialerFor('socks5'), proxy, 'pipelined', OPEN, { ...SETTINGS, demandWindowMs: 10_000 });
    try {
      await echoes(await pool.dial(echo, DIAL));
      // The server closes the warm connection at ~600 ms (before our 2 s): the age halves to ~300 ms.
      await until('the first warm connection lost', 3_000, () => accepted.count >= 3);
      await sleep(200);
      for (let i = 0; i < 5; i++) {
        await sleep(100);
        await echoes(await pool.dial(echo, DIAL));
      }
      assert.equal(pool.isOff, false, 'a proxy whose idle timeout fits a shorter age keeps its pool');
    } finally {
      pool.close();
    }
    const rejecting = await startShortIdleSocks(1, { count: 0 });
    servers.push(rejecting);
    const rejected: ProxyEndpoint = { protocol: 'socks5', host: `${SUBNET}.9`, port: (rejecting.address() as net.AddressInfo).port as ProxyEndpoint['port'] };
    const off = new WarmPool(dialerFor('socks5'), rejected, 'pipelined', OPEN, SETTINGS);
    try {
      // Every warm connection dies at once: the pool turns off; each client connection still dials and gets its tunnel.
      await until('the pool off', 3_000, () => {
        void off.dial(echo, DIAL).then((socket) => socket.destroy(), () => undefined);
        return off.isOff;
      });
      assert.equal(off.counts.ready + off.counts.opening, 0);
    } finally {
      off.close();
    }
  });
});
