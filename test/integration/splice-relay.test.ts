// The native splice relay against real loopback TCP sockets: what the forwarder's JS relay
// guarantees (bytes intact both ways, half-close, backpressure, idle timeout, byte counts, reset,
// no descriptor left behind) must hold when the kernel moves the bytes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { spliceSockets, type SplicedRelay } from '@pgw/original-dst';

interface Pair {
  /** The relay's two sockets (what the forwarder accepted and dialed). */
  client: net.Socket;
  upstream: net.Socket;
  /** Their far ends: the LAN client and the proxy side. */
  lan: net.Socket;
  wan: net.Socket;
}

const servers: net.Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function connectedPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const dialer = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(dialer, 'connect');
  const [socket] = await accepted;
  server.close();
  return [dialer, socket];
}

async function pair(): Promise<Pair> {
  const [lan, client] = await connectedPair();
  const [upstream, wan] = await connectedPair();
  return { client, upstream, lan, wan };
}

function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // An accepted socket starts paused (pauseOnConnect, as the forwarder's listener).
  socket.resume();
  return once(socket, 'end').then(() => Buffer.concat(chunks));
}

function splice(p: Pair, idleTimeoutMs = 30_000): { relay: SplicedRelay; closed: Promise<string | null> } {
  let done!: (reason: string | null) => void;
  const closed = new Promise<string | null>((resolve) => (done = resolve));
  const relay = spliceSockets(p.client, p.upstream, idleTimeoutMs, (reason) => done(reason));
  assert.ok(relay, 'plain TCP sockets are handed over');
  return { relay, closed };
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('splice relay (native, loopback TCP)', () => {
  it('relays 8 MiB each way intact over a half-closed connection, counts the bytes, and ends cleanly', async () => {
    const p = await pair();
    const { relay, closed } = splice(p);
    const up = randomBytes(8 << 20);
    const down = randomBytes(8 << 20);
    const atWan = collect(p.wan);
    const atLan = collect(p.lan);
    // The LAN side finishes sending first; the WAN side still answers over the half-open connection.
    p.lan.end(up);
    assert.ok((await atWan).equals(up), 'client -> upstream bytes intact, then the FIN');
    p.wan.end(down);
    assert.ok((await atLan).equals(down), 'upstream -> client bytes intact after the half-close');
    assert.equal(await closed, null, 'both directions finished: a clean end');
    assert.equal(relay.bytesUp, up.length);
    assert.equal(relay.bytesDown, down.length);
  });

  it('writes first the bytes Node had already read from the upstream, in order', async () => {
    const p = await pair();
    p.wan.write('first tunnel bytes|');
    // The upstream socket reads them into its buffer, as a dialer does before it unshifts them.
    p.upstream.resume();
    await once(p.upstream, 'data').then(([chunk]) => {
      p.upstream.pause();
      p.upstream.unshift(chunk as Buffer);
    });
    const { closed } = splice(p);
    const atLan = collect(p.lan);
    p.wan.end('then the rest');
    p.lan.end();
    assert.equal((await atLan).toString(), 'first tunnel bytes|then the rest');
    assert.equal(await closed, null);
  });

  it('backpressure: a peer that does not read stops the relay reading, then everything arrives', async () => {
    const p = await pair();
    const { relay, closed } = splice(p);
    const payload = randomBytes(64 << 20);
    p.wan.pause();
    let flushed = false;
    p.lan.write(payload, () => (flushed = true));
    // Let the sender push what the kernel buffers take, then check the relay holds no more than those.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(flushed, false, 'the sender is held back');
    assert.ok(relay.bytesUp < 24 << 20, `relay moved ${relay.bytesUp} bytes into a peer that reads nothing`);
    const atWan = collect(p.wan);
    p.wan.resume();
    p.lan.end();
    assert.ok((await atWan).equals(payload), '64 MiB intact once the peer reads');
    p.wan.end();
    assert.equal(await closed, null);
  });

  it('closes both sides after the idle timeout, and activity in either direction postpones it', async () => {
    const p = await pair();
    const { closed } = splice(p, 300);
    let ended = false;
    void closed.then(() => (ended = true));
    // Both far ends see the relay's FIN (they are half-open sockets: 'end', not 'close').
    const farEnds = Promise.all([once(p.lan, 'end'), once(p.wan.resume(), 'end')]);
    p.lan.on('data', () => undefined);
    for (let i = 0; i < 6; i++) {
      p.wan.write('x');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(ended, false, 'traffic every 100 ms keeps a 300 ms idle timeout away');
    assert.equal(await closed, 'idle timeout');
    await farEnds;
  });

  it('close(true) resets the client and closes the upstream', async () => {
    const p = await pair();
    const { relay, closed } = splice(p);
    const lanError = once(p.lan, 'error');
    const wanEnd = once(p.wan.resume(), 'end');
    relay.close(true);
    const [error] = (await lanError) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNRESET');
    await wanEnd;
    assert.equal(await closed, 'closed');
  });

  it('a reset from the upstream ends the relay with a reason and closes the client', async () => {
    const p = await pair();
    const { closed } = splice(p);
    p.lan.on('error', () => undefined);
    const lanEnd = once(p.lan.resume(), 'end');
    p.wan.resetAndDestroy();
    assert.match((await closed) ?? 'clean', /relay: /);
    await lanEnd;
  });

  it('leaves no descriptor behind', async () => {
    const before = openFds();
    for (let i = 0; i < 20; i++) {
      const p = await pair();
      const { closed } = splice(p);
      const atLan = collect(p.lan);
      const atWan = collect(p.wan);
      p.lan.end('a');
      p.wan.end('b');
      await Promise.all([atLan, atWan, closed]);
      p.lan.destroy();
      p.wan.destroy();
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(openFds(), before);
  });

  it('refuses, touching nothing, a socket without a descriptor', async () => {
    const p = await pair();
    p.upstream.destroy();
    assert.equal(spliceSockets(p.client, p.upstream, 1000, () => undefined), null);
    assert.equal(p.client.destroyed, false);
    p.client.destroy();
    p.lan.destroy();
    p.wan.destroy();
  });
});
