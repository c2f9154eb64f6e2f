import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { type ProxyEndpoint, parsePort } from '@pgw/domain';
import { DialError } from './dial-error.js';
import type { Dialer } from './types.js';
import { REFILL_FALLBACK_MS, type WarmConnector, WarmPool } from './warm-pool.js';

// The pool's own order of work, with a dialer that records its calls (the proxies' side of warm
// connections is proven against dante and tinyproxy in test/integration/warm-pool.test.ts).

const PROXY: ProxyEndpoint = { protocol: 'socks5', host: '198.51.100.10', port: parsePort(1080) };
const TARGET = { host: '203.0.113.10', port: 80 };
const SETTINGS = { maxAgeMs: 3_000, maxPerProxy: 4, demandWindowMs: 30_000 };

function recordingDialer(connectOn: 'ok' | 'closed' = 'ok') {
  const calls: string[] = [];
  const socket = () => new PassThrough() as unknown as Socket;
  const dialer: Dialer = {
    protocol: 'socks5',
    dial: async () => (calls.push('dial'), socket()),
    open: async () => (calls.push('open'), socket()),
    connectOn: async (warm) => {
      calls.push('connectOn');
      if (connectOn === 'closed') throw new DialError('closed', 'the proxy closed the warm connection');
      return warm;
    },
  };
  return { dialer, calls };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
/**
 * The pools' clock stands still: the sizing's burst window follows how long an open took (here
 * about 0 ms, so 50 ms), and on a loaded machine two real takes were sometimes further apart.
 */
const STILL = () => 0;

describe('WarmPool', () => {
  // The pool's timers (the refill fallback, the max age) run only when a test moves the clock: on a
  // loaded machine a real 5 ms fallback fired before the next turn and opened where none was due.
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('refills once the connection it served has ended (a cold dial): no open before, beside or during it', async () => {
    const { dialer, calls } = recordingDialer();
    const pool = new WarmPool(dialer, PROXY, 'pipelined', { timeoutMs: 1_000 }, SETTINGS, STILL);
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    // Where the forwarder attaches its relay, and while the connection's first exchange runs: nothing else.
    await nextTurn();
    assert.deepEqual(calls, ['dial']);
    pool.connectionEnded();
    await nextTurn();
    assert.deepEqual(calls, ['dial', 'open']);
    pool.close();
  });

  it('refills once the connection it served has ended (a warm one): not between the proxy answer and the relay, nor during the first exchange', async () => {
    const { dialer, calls } = recordingDialer();
    const pool = new WarmPool(dialer, PROXY, 'pipelined', { timeoutMs: 1_000 }, SETTINGS, STILL);
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    pool.connectionEnded();
    await nextTurn();
    await nextTurn();
    assert.equal(pool.counts.ready, 1);
    calls.length = 0;
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    assert.deepEqual(calls, ['connectOn']);
    await nextTurn();
    assert.deepEqual(calls, ['connectOn']);
    pool.connectionEnded();
    await nextTurn();
    // Two takes within a burst: the sizing asks for two warm connections now.
    assert.deepEqual(calls, ['connectOn', 'open', 'open']);
    assert.deepEqual(pool.takes, { used: 1, stale: 0 });
    pool.close();
  });

  it(`refills ${REFILL_FALLBACK_MS} ms after a take without word of the connection's end (a long-lived one), once for every take before`, async () => {
    const { dialer, calls } = recordingDialer();
    const pool = new WarmPool(dialer, PROXY, 'pipelined', { timeoutMs: 1_000 }, SETTINGS, STILL);
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    await nextTurn();
    mock.timers.tick(REFILL_FALLBACK_MS - 1);
    assert.deepEqual(calls, ['dial', 'dial']);
    mock.timers.tick(1);
    assert.deepEqual(calls, ['dial', 'dial', 'open', 'open']);
    // Its end, later, finds the pool full: nothing more.
    pool.connectionEnded();
    await nextTurn();
    await nextTurn();
    assert.equal(calls.length, 4);
    pool.close();
  });

  it('a closed pool refills neither on a connection end nor after the fallback', async () => {
    const { dialer, calls } = recordingDialer();
    const pool = new WarmPool(dialer, PROXY, 'pipelined', { timeoutMs: 1_000 }, SETTINGS, STILL);
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    pool.close();
    pool.connectionEnded();
    await nextTurn();
    mock.timers.tick(REFILL_FALLBACK_MS);
    assert.deepEqual(calls, ['dial']);
  });

  it('closes each warm connection left unused at its max age, by the clock of its open, also after the one the timer was set for was taken', async (t) => {
    const opened: PassThrough[] = [];
    const dialer: Dialer = {
      protocol: 'socks5',
      dial: async () => new PassThrough() as unknown as Socket,
      open: async () => {
        const socket = new PassThrough();
        opened.push(socket);
        return socket as unknown as Socket;
      },
      connectOn: async (warm) => warm,
    };
    let now = 0;
    const maxAgeMs = 200;
    const pool = new WarmPool(dialer, PROXY, 'pipelined', { timeoutMs: 1_000 }, { ...SETTINGS, maxAgeMs }, () => now);
    // A failed assertion must not leave the pool refilling at every expiry (the clock stands still).
    t.after(() => pool.close());
    // Two takes at once ask for two warm connections, opened at 0 (A and B).
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    pool.connectionEnded();
    await nextTurn();
    await nextTurn();
    assert.equal(opened.length, 2);
    // At 100 one is taken (the timer was set for it) and its end asks for one more (C, opened at 100).
    now = 100;
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    pool.connectionEnded();
    await nextTurn();
    await nextTurn();
    assert.equal(opened.length, 3);
    assert.equal(pool.counts.ready, 2);
    const [, b, c] = opened as [PassThrough, PassThrough, PassThrough];
    // The clock at 210 when the timer fires (200 ms after A's and B's open): B has had its time, C not.
    now = 210;
    mock.timers.tick(maxAgeMs);
    assert.equal(b.destroyed, true, 'B closed at its max age');
    assert.equal(c.destroyed, false, 'C (110 ms old) kept');
    // Its replacement is opened: demand is recent. Then C's time comes.
    await nextTurn();
    assert.equal(opened.length, 4);
    now = 310;
    mock.timers.tick(100);
    assert.equal(c.destroyed, true, 'C closed at its max age');
    await nextTurn();
    assert.equal(opened.length, 5, 'and replaced');
    pool.close();
    // A went to a client (the pool no longer owns it); every other one is closed.
    assert.equal(opened[0]!.destroyed, false);
    assert.ok(opened.slice(1).every((socket) => socket.destroyed), 'close() ends the rest');
  });

  it('closes a warm connection it cannot watch and counts it against the pool, with no unhandled rejection', async () => {
    const { dialer, calls } = recordingDialer();
    const destroyed: Socket[] = [];
    // The native watch's epoll_ctl refused (out of watches, or memory).
    const connector: WarmConnector<Socket> = {
      open: (proxy, options) => dialer.open(proxy, options),
      watch() {
        throw Object.assign(new Error('DescriptorWatch: epoll_ctl: No space left on device'), { code: 'ENOSPC' });
      },
      unwatch() {},
      destroy: (socket) => void destroyed.push(socket),
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const pool = new WarmPool(dialer, PROXY, 'pipelined', { timeoutMs: 1_000 }, SETTINGS, STILL, connector);
      await pool.dial(TARGET, { timeoutMs: 1_000 });
      pool.connectionEnded();
      for (let i = 0; i < 4; i++) await nextTurn();
      assert.deepEqual(calls, ['dial', 'open']);
      assert.equal(destroyed.length, 1, 'the connection it could not watch is closed');
      assert.deepEqual(pool.counts, { ready: 0, opening: 0 });
      pool.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, [], 'no unhandled rejection (the services exit on one)');
  });

  it('counts a warm connection found closed as stale, and dials the client anew', async () => {
    const { dialer, calls } = recordingDialer('closed');
    const pool = new WarmPool(dialer, PROXY, 'pipelined', { timeoutMs: 1_000 }, SETTINGS, STILL);
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    pool.connectionEnded();
    await nextTurn();
    await nextTurn();
    calls.length = 0;
    await pool.dial(TARGET, { timeoutMs: 1_000 });
    assert.deepEqual(calls.slice(0, 2), ['connectOn', 'dial']);
    assert.deepEqual(pool.takes, { used: 0, stale: 1 });
    pool.close();
  });

  it('a CONNECT the proxy refuses by closing, on a warm and then on a new connection, is not a stale warm connection: the pool stays on', async () => {
    // An ACL or a cap at CONNECT time answers by closing: one such client took a young warm
    // connection for stale, halved the pool's age below its minimum, and turned it off for 10 min.
    const calls: string[] = [];
    const socket = () => new PassThrough() as unknown as Socket;
    const refused = () => new DialError('closed', 'the proxy closed the connection after the CONNECT');
    const dialer: Dialer = {
      protocol: 'socks5',
      dial: async () => (calls.push('dial'), Promise.reject(refused())),
      open: async () => (calls.push('open'), socket()),
      connectOn: async () => (calls.push('connectOn'), Promise.reject(refused())),
    };
    const pool = new WarmPool(dialer, PROXY, 'pipelined', { timeoutMs: 1_000 }, SETTINGS, STILL);
    await assert.rejects(pool.dial(TARGET, { timeoutMs: 1_000 }));
    pool.connectionEnded();
    await nextTurn();
    await nextTurn();
    calls.length = 0;
    await assert.rejects(pool.dial(TARGET, { timeoutMs: 1_000 }), (e: unknown) => e instanceof DialError && e.reason === 'closed');
    assert.deepEqual(calls.slice(0, 2), ['connectOn', 'dial']);
    assert.deepEqual(pool.takes, { used: 1, stale: 0 }, 'the warm connection carried the CONNECT');
    assert.equal(pool.isOff, false, 'the pool stays on');
    pool.close();
  });
  it('a warm CONNECT the proxy answered in part before closing is not retried (it read the CONNECT and any early bytes); a stale one is, within the time left', async () => {
    for (const answered of [true, false]) {
      const calls: string[] = [];
      const timeouts: number[] = [];
      let clock = 0;
      const socket = () => new PassThrough() as unknown as Socket;
      const dialer: Dialer = {
        protocol: 'socks5',
        dial: async (_proxy, _target, options) => (calls.push('dial'), timeouts.push(options.timeoutMs), socket()),
        open: async () => (calls.push('open'), socket()),
        connectOn: async () => {
          calls.push('connectOn');
          // The proxy took 400 ms of the dial's 1000 to fail (its reply's first bytes, then its close).
          await nextTurn();
          clock += 400;
          throw new DialError('closed', 'proxy closed the connection in the middle of its reply', { answered });
        },
      };
      const pool = new WarmPool(dialer, PROXY, 'pipelined', { timeoutMs: 1_000 }, SETTINGS, () => clock);
      await pool.dial(TARGET, { timeoutMs: 1_000 });
      pool.connectionEnded();
      await nextTurn();
      await nextTurn();
      calls.length = 0;
      timeouts.length = 0;
      if (answered) {
        await assert.rejects(pool.dial(TARGET, { timeoutMs: 1_000 }), (e: unknown) => e instanceof DialError && e.answered);
        assert.deepEqual(calls.slice(0, 2), ['connectOn'], 'no new dial: the CONNECT is not sent twice');
        assert.deepEqual(pool.takes, { used: 1, stale: 0 });
      } else {
        await pool.dial(TARGET, { timeoutMs: 1_000 });
        assert.deepEqual(calls.slice(0, 2), ['connectOn', 'dial']);
        assert.deepEqual(timeouts, [600], 'the new dial gets what is left of the 1000 ms, not 1000 ms again');
      }
      pool.close();
    }
  });
});
