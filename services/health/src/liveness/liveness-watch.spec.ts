// LivenessWatch against real loopback TCP servers: what it reports when a proxy's port closes,
// refuses, or only drops idle connections. (A silently vanished host needs a network namespace:
// test/e2e/health-liveness.test.ts.)
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { guardedLookup } from '@pgw/dialers';
import { type LivenessLoss, LivenessWatch, type LivenessTimings } from './liveness-watch.js';

const FAST: LivenessTimings = { connectTimeoutMs: 500, retryMs: 100, minLifetimeMs: 100, keepalive: { idleS: 1, intervalS: 1, count: 2 } };

interface Seen {
  readonly lost: { loss: LivenessLoss; detail: string; at: number; repeated: boolean }[];
  restored: number;
}

function watch(port: number): { watch: LivenessWatch; seen: Seen } {
  const seen: Seen = { lost: [], restored: 0 };
  const w = new LivenessWatch('127.0.0.1', port, { lost: (loss, detail, repeated) => seen.lost.push({ loss, detail, at: Date.now(), repeated }), restored: () => seen.restored++ }, FAST);
  return { watch: w, seen };
}

async function listen(server: net.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  return (server.address() as net.AddressInfo).port;
}

async function until(what: string, test: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('LivenessWatch', () => {
  it('a proxy name that resolves where no proxy may be gets no connection (the probe\'s address check), and is reported lost', async () => {
    let accepted = 0;
    const server = net.createServer((s) => (accepted++, s.destroy()));
    const port = await listen(server);
    const seen: Seen = { lost: [], restored: 0 };
    const refuseLoopback = (address: string) => (address.startsWith('127.') || address === '::1' ? { reason: 'proxy_loopback' as const, message: 'a loopback address (the gateway itself)' } : null);
    const w = new LivenessWatch('localhost', port, { lost: (loss, detail, repeated) => seen.lost.push({ loss, detail, at: Date.now(), repeated }), restored: () => seen.restored++ }, FAST, guardedLookup(refuseLoopback));
    try {
      w.start();
      await until('a loss reported', () => seen.lost.length > 0);
      await sleep(300);
      assert.equal(accepted, 0, 'the watch connected to the address the policy refuses');
      assert.equal(seen.lost[0]!.loss, 'connect_failed');
      assert.match(seen.lost[0]!.detail, /localhost resolves to .*loopback/);
    } finally {
      w.stop();
      server.close();
    }
  });

  it('reports "refused" within milliseconds when the listening process goes away, once, then "restored"', async () => {
    const sockets = new Set<net.Socket>();
    let server = net.createServer((s) => sockets.add(s.on('error', () => undefined)));
    const port = await listen(server);
    const { watch: w, seen } = watch(port);
    try {
      w.start();
      await until('connected', () => sockets.size === 1);
      // At once, even for a connection younger than minLifetimeMs: the first reconnect is never delayed.
      const closedAt = Date.now();
      server.close();
      for (const s of sockets) s.destroy(); // what the kernel does to a dead process's sockets
      await until('lost', () => seen.lost.length === 1);
      assert.equal(seen.lost[0]!.loss, 'refused');
      assert.ok(seen.lost[0]!.at - closedAt < 200, `reported after ${seen.lost[0]!.at - closedAt} ms`);
      await sleep(350); // several failed retries: each reported as repeated
      assert.ok(seen.lost.length >= 2, `${seen.lost.length} reports`);
      assert.deepEqual(seen.lost.map((l) => l.repeated), [false, ...seen.lost.slice(1).map(() => true)]);
      const reports = seen.lost.length;

      sockets.clear();
      server = net.createServer((s) => sockets.add(s.on('error', () => undefined)));
      await listen(server, port);
      await until('restored', () => seen.restored === 1);
      assert.ok(seen.lost.length <= reports + 1);
    } finally {
      w.stop();
      server.close();
      for (const s of sockets) s.destroy();
    }
  });

  it('reports nothing for a proxy that closes idle connections but keeps accepting', async () => {
    let accepted = 0;
    const server = net.createServer((s) => {
      accepted++;
      s.on('error', () => undefined);
      setTimeout(() => s.end(), 50); // a proxy's own idle timeout, very short
    });
    const port = await listen(server);
    const { watch: w, seen } = watch(port);
    try {
      w.start();
      await sleep(800);
      assert.deepEqual(seen.lost, []);
      // Repeatedly short-lived connections are re-dialled after retryMs, not in a tight loop.
      assert.ok(accepted >= 3 && accepted <= 10, `${accepted} connections in 800 ms`);
    } finally {
      w.stop();
      server.close();
    }
  });

  it('reports "refused" at start for a port nobody listens on, and stops retrying when stopped', async () => {
    const server = net.createServer();
    const port = await listen(server);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const { watch: w, seen } = watch(port);
    w.start();
    await until('lost', () => seen.lost.length >= 1);
    assert.equal(seen.lost[0]!.loss, 'refused');
    assert.equal(seen.lost[0]!.repeated, false);
    assert.match(seen.lost[0]!.detail, /ECONNREFUSED/);
    w.stop();
    const again = net.createServer();
    let accepted = 0;
    again.on('connection', (s) => {
      accepted++;
      s.destroy();
    });
    await listen(again, port);
    await sleep(300);
    again.close();
    assert.equal(accepted, 0, 'a stopped watch does not connect again');
    assert.equal(seen.restored, 0);
  });
});
