// The native splice relay against real loopback TCP sockets: what the forwarder's JS relay
// guarantees (bytes intact both ways, half-close, backpressure, idle timeout, byte counts, reset,
// no descriptor left behind) must hold when the kernel moves the bytes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { closeSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import { nodeScriptWithout } from '../support/deny-syscall.js';
import { waitFor } from '../../lab/wait.js';
import { connectedLoopbackPair } from '../support/loopback-pair.js';
import { rawDescriptor, readUntilEnd } from '../support/stream-end.js';
import { dupFd, socketDescriptor, splicePipesIdle, spliceSockets, type SplicedRelay } from '@pgw/original-dst';

interface Pair {
  /** The relay's two sockets (what the forwarder accepted and dialed). */
  client: net.Socket;
  upstream: net.Socket;
  /** Their far ends: the LAN client and the proxy side. */
  lan: net.Socket;
  wan: net.Socket;
}


async function pair(): Promise<Pair> {
  const [lan, client] = await connectedLoopbackPair();
  const [upstream, wan] = await connectedLoopbackPair();
  return { client, upstream, lan, wan };
}

/** A raw descriptor of `socket`'s connection read apart, while the socket stays to write from. */
function dupFdOf(socket: net.Socket): number {
  return dupFd(socketDescriptor(socket));
}

/** A request that fits the kernel's buffers between the relay and a peer not reading yet. */
const REQUEST_IN_KERNEL = 512 * 1024;

function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // An accepted socket starts paused (pauseOnConnect, as the forwarder's listener).
  socket.resume();
  return once(socket, 'end').then(() => Buffer.concat(chunks));
}


/** The proxy side sends `down` to a client that reads nothing yet: back once the relay stopped, every buffer on the way full. */
async function sendUntilStalled(p: Pair, relay: SplicedRelay, down: Buffer): Promise<void> {
  p.wan.on('error', () => undefined);
  p.wan.write(down);
  let last = -1;
  while (relay.bytesDown !== last) {
    last = relay.bytesDown;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function splice(p: Pair, idleTimeoutMs = 30_000): { relay: SplicedRelay; closed: Promise<string | null> } {
  let done!: (reason: string | null) => void;
  const closed = new Promise<string | null>((resolve) => (done = resolve));
  const relay = spliceSockets(p.client, p.upstream, idleTimeoutMs, (reason) => done(reason));
  assert.ok(relay, 'plain TCP sockets are handed over');
  return { relay, closed };
}

// In the child: a relay through the JavaScript fallback must carry bytes both ways.
const FALLBACK_SCRIPT = `
import net from 'node:net';
import { once } from 'node:events';
import { spliceSockets, spliceUnavailable } from '@pgw/original-dst';
async function connectedPair() {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const dialer = net.connect({ host: '127.0.0.1', port: server.address().port, allowHalfOpen: true });
  await once(dialer, 'connect');
  const [socket] = await accepted;
  server.close();
  return [dialer, socket];
}
const [lan, client] = await connectedPair();
const [upstream, wan] = await connectedPair();
const relay = spliceSockets(client, upstream, 10000, () => undefined);
if (relay === null) { client.pipe(upstream); upstream.pipe(client); client.resume(); }
wan.resume();
lan.write('ping');
const [fromLan] = await once(wan, 'data');
wan.write('pong');
const [fromWan] = await once(lan, 'data');
console.log(JSON.stringify({ handedOver: relay !== null, unavailable: spliceUnavailable(), up: String(fromLan), down: String(fromWan) }));
process.exit(0);
`;

/** python3 -c URGENT_SENDER <port> fin|open: sends "hello", one urgent byte, "world"; then its FIN, or stays open 3 s. */
const URGENT_SENDER = `
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.send(b"hello"); time.sleep(0.1)
s.send(b"X", socket.MSG_OOB); time.sleep(0.1)
s.send(b"world"); time.sleep(0.1)
if sys.argv[2] == "fin":
    s.shutdown(socket.SHUT_WR)
time.sleep(3)
`;

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function pipeFds(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:');
    } catch {
      return false; // closed while we looked
    }
  }).length;
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

  it('20 relays at once, 1 MiB each way each, with pipes passed between them: every byte reaches its own peer', async () => {
    const relays = await Promise.all(Array.from({ length: 20 }, () => pair()));
    const runs = relays.map(async (p) => {
      const { closed } = splice(p);
      const up = randomBytes(1 << 20);
      const down = randomBytes(1 << 20);
      const atWan = collect(p.wan);
      const atLan = collect(p.lan);
      p.lan.end(up);
      p.wan.end(down);
      assert.ok((await atWan).equals(up), 'client -> upstream bytes are this connection\'s');
      assert.ok((await atLan).equals(down), 'upstream -> client bytes are this connection\'s');
      assert.equal(await closed, null);
    });
    await Promise.all(runs);
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

  // The gateway cutting a stream neither end ended (the idle timeout, a policy's reset) resets both
  // far ends: a FIN would tell the proxy's target, or the client, that the stream ended whole.
  it('resets both sides after the idle timeout, and activity in either direction postpones it', async () => {
    const p = await pair();
    const { closed } = splice(p, 300);
    let ended = false;
    void closed.then(() => (ended = true));
    const writer = p.wan;
    const [lan, wan] = [rawDescriptor(p.lan), dupFdOf(writer)];
    for (let i = 0; i < 6; i++) {
      writer.write('x');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(ended, false, 'traffic every 100 ms keeps a 300 ms idle timeout away');
    assert.equal(await closed, 'idle timeout');
    writer.destroy();
    const [toLan, toWan] = await Promise.all([readUntilEnd(lan), readUntilEnd(wan)]);
    closeSync(lan);
    closeSync(wan);
    assert.deepEqual([toLan.bytes.toString(), toLan.end], ['xxxxxx', 'ECONNRESET'], 'the client: every byte, then a reset');
    assert.equal(toWan.end, 'ECONNRESET', 'the proxy side: a reset, not an end of stream');
  });

  it('close(true) resets the client and the upstream', async () => {
    const p = await pair();
    const { relay, closed } = splice(p);
    const [lan, wan] = [rawDescriptor(p.lan), rawDescriptor(p.wan)];
    relay.close(true);
    const [toLan, toWan] = await Promise.all([readUntilEnd(lan), readUntilEnd(wan)]);
    closeSync(lan);
    closeSync(wan);
    assert.equal(toLan.end, 'ECONNRESET');
    assert.equal(toWan.end, 'ECONNRESET', 'the proxy side gets a reset too: its target must not take the cut stream for whole');
    assert.equal(await closed, 'closed');
  });

  it('close(true) after the client ended its stream cleanly: the proxy side, reading late, gets every byte and a FIN', async () => {
    const p = await pair();
    const { relay, closed } = splice(p);
    const wan = rawDescriptor(p.wan); // not read until after the close: the bytes wait in the kernel
    p.lan.on('error', () => undefined);
    const request = randomBytes(REQUEST_IN_KERNEL);
    p.lan.end(request);
    // Every byte handed to the kernel, and the client's end passed on (shutdown) behind them.
    await waitFor('the request relayed', 5_000, () => relay.bytesUp === request.length, { intervalMs: 5 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    relay.close(true);
    const toWan = await readUntilEnd(wan);
    closeSync(wan);
    assert.equal(toWan.end, 'end', `the stream the client ended stays whole (${toWan.bytes.length} of ${request.length} bytes, then ${toWan.end})`);
    assert.ok(toWan.bytes.equals(request));
    assert.equal(await closed, 'closed');
  });

  // A broken stream must not look whole: a client reading to the end of a close-delimited
  // response would take a cut one for complete if the upstream's reset reached it as a FIN.
  it('a reset from the upstream reaches the client as a reset, after every byte sent before it', async () => {
    const p = await pair();
    // Read as a C client reads it (stream-end.ts: Node could take the reset for an end here).
    const lan = rawDescriptor(p.lan);
    const { relay, closed } = splice(p);
    const down = randomBytes(400_000);
    // The client does not read yet: when the reset comes, bytes still wait in the relay's socket
    // to the client (more than the client's receive buffer takes), unacknowledged.
    p.wan.write(down);
    await waitFor('the relay wrote every byte to the client', 10_000, () => relay.bytesDown === down.length, { intervalMs: 5 });
    p.wan.resetAndDestroy();
    const outcome = await readUntilEnd(lan);
    closeSync(lan);
    assert.match((await closed) ?? 'clean', /relay: /);
    assert.equal(outcome.bytes.length, down.length, 'every byte the upstream sent before its reset');
    assert.ok(outcome.bytes.equals(down));
    assert.equal(outcome.end, 'ECONNRESET', 'the client sees the reset, not an end of stream');
  });

  // A client still reading what the failed side sent does not lose the end of it: the second of no
  // progress that gives up on a stopped reader counts from when the wait begins, not from the failure.
  it('a reset from the upstream behind megabytes a slow client still reads: every byte the relay took reaches it, then the reset', { timeout: 60_000 }, async () => {
    const p = await pair();
    const lan = rawDescriptor(p.lan);
    const { relay, closed } = splice(p);
    const down = randomBytes(16 << 20);
    await sendUntilStalled(p, relay, down);
    p.wan.resetAndDestroy();
    const started = Date.now();
    const outcome = await readUntilEnd(lan, 45_000, { chunk: 32 * 1024, pauseMs: 10 });
    closeSync(lan);
    assert.match((await closed) ?? 'clean', /relay: /);
    console.log(`# ${outcome.bytes.length} bytes read in ${Date.now() - started} ms after the reset, ${relay.bytesDown} written by the relay`);
    assert.equal(outcome.end, 'ECONNRESET');
    assert.equal(outcome.bytes.length, relay.bytesDown, 'every byte the relay wrote to the client reached it');
    assert.ok(outcome.bytes.equals(down.subarray(0, outcome.bytes.length)), 'in order, intact');
  });

  // Bounded all the same: a reader taking a little now and then (a proxy or a server trickling its
  // window open, the client gone) kept the relay, its connection slots and buffers, for as long as it liked.
  it('a reset from the upstream behind a reader that takes a little at a time: the client is reset an idle timeout after the failure, bytes left untaken', { timeout: 60_000 }, async () => {
    const idleTimeoutMs = 2_000;
    const p = await pair();
    const lan = rawDescriptor(p.lan);
    const { relay, closed } = splice(p, idleTimeoutMs);
    await sendUntilStalled(p, relay, randomBytes(16 << 20));
    p.wan.resetAndDestroy();
    const started = Date.now();
    const outcome = await readUntilEnd(lan, 45_000, { chunk: 16 * 1024, pauseMs: 20 });
    const waitedMs = Date.now() - started;
    closeSync(lan);
    assert.match((await closed) ?? 'clean', /relay: /);
    console.log(`# reset after ${waitedMs} ms, ${outcome.bytes.length} of ${relay.bytesDown} bytes read`);
    assert.equal(outcome.end, 'ECONNRESET');
    assert.ok(outcome.bytes.length < relay.bytesDown, 'the reader still had bytes to take: the wait is what is bounded');
    assert.ok(waitedMs < idleTimeoutMs + 3_000, `reset ${waitedMs} ms after the failure (idle timeout ${idleTimeoutMs} ms)`);
  });

  it('a reset from the client reaches the upstream as a reset', async () => {
    const p = await pair();
    const wan = rawDescriptor(p.wan);
    const { closed } = splice(p);
    p.lan.write('request');
    const outcome = readUntilEnd(wan);
    p.lan.resetAndDestroy();
    assert.match((await closed) ?? 'clean', /relay: /);
    assert.deepEqual(await outcome, { bytes: Buffer.from('request'), end: 'ECONNRESET' }, 'the proxy gets what the client sent, then the reset, not an end of stream');
    closeSync(wan);
  });

  it('an end from the upstream still reaches the client as an end', async () => {
    const p = await pair();
    const lan = rawDescriptor(p.lan);
    const { closed } = splice(p);
    p.wan.end('last words');
    assert.deepEqual(await readUntilEnd(lan), { bytes: Buffer.from('last words'), end: 'end' });
    closeSync(lan);
    assert.equal(await closed, null);
  });

  it('TCP urgent data: the bytes behind the urgent mark are relayed at once, and the stream ends whole (splice stops at the mark)', async () => {
    // The kernel's splice read stops at the urgent mark (EAGAIN, then 0 once the FIN is in) with bytes
    // queued behind it: the direction froze, and at the FIN the relay passed a clean end on without
    // them. The out-of-band byte itself is not relayed (neither does Node's relay, nor redsocks).
    for (const ending of ['fin', 'open'] as const) {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }).listen(0, '127.0.0.1');
      await once(server, 'listening');
      const accepted = once(server, 'connection');
      const sender = spawn('python3', ['-c', URGENT_SENDER, String((server.address() as net.AddressInfo).port), ending], { stdio: ['ignore', 'ignore', 'inherit'] });
      const [client] = (await accepted) as [net.Socket];
      server.close();
      const [upstream, wan] = await connectedLoopbackPair();
      const p = { client, upstream, lan: client, wan };
      const { relay, closed } = splice(p);
      try {
        if (ending === 'fin') {
          assert.equal((await collect(wan)).toString(), 'helloworld', 'the bytes after the urgent byte, then the FIN');
          wan.end();
          assert.equal(await closed, null, 'both ends relayed: a clean end');
          assert.equal(relay.bytesUp, 10);
        } else {
          let got = '';
          wan.on('data', (chunk: Buffer) => (got += chunk.toString()));
          wan.resume();
          await waitFor('the bytes after the urgent mark at the upstream', 1_500, async () => got === 'helloworld', { detail: () => `got ${JSON.stringify(got)}` });
        }
      } finally {
        relay.close(true);
        sender.kill();
        wan.destroy();
      }
    }
  });

  it('leaves no descriptor behind but the pool\'s empty pipes', async () => {
    const before = openFds();
    const idleBefore = splicePipesIdle();
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
    assert.equal(openFds(), before + 2 * (splicePipesIdle() - idleBefore));
  });

  it('an idle relay holds no pipe: 50 open relays after an exchange each, only the pool\'s few pipes exist', async () => {
    // Pipes that are not the relays' (the test runner's stdio among them), the pool's idle ones aside.
    const others = pipeFds() - 2 * splicePipesIdle();
    const idleBefore = splicePipesIdle();
    const pairs: Pair[] = [];
    for (let i = 0; i < 50; i++) {
      const p = await pair();
      splice(p);
      p.wan.resume();
      p.lan.write('ping');
      await once(p.wan, 'data');
      p.wan.write('pong');
      await once(p.lan, 'data');
      pairs.push(p);
    }
    // Each relay held 2 pipes (4 descriptors) before the pool: 200 more here.
    assert.equal(pipeFds() - others, 2 * splicePipesIdle(), 'every pipe of the relays is an idle one of the pool');
    // One exchange at a time: a direction's pipe goes back before the next relay takes one.
    assert.ok(splicePipesIdle() - idleBefore <= 2, `the pool grew from ${idleBefore} to ${splicePipesIdle()} pipes over sequential exchanges`);
    // Still relaying after giving their pipes back.
    const last = pairs.at(-1)!;
    last.lan.write('again');
    assert.equal(String((await once(last.wan, 'data'))[0]), 'again');
    for (const p of pairs) {
      p.lan.destroy();
      p.wan.destroy();
    }
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

  it('where splice(2) is denied (seccomp), declines every hand-over so the JavaScript relay carries the bytes', { timeout: 60_000 }, () => {
    const out = nodeScriptWithout('splice', FALLBACK_SCRIPT);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { handedOver: boolean; unavailable: string | null; up: string; down: string };
    assert.equal(result.handedOver, false, 'no hand-over to a relay whose first splice would fail');
    assert.match(result.unavailable ?? '', /splice\(socket -> pipe\): Operation not permitted/);
    assert.deepEqual([result.up, result.down], ['ping', 'pong']);
  });
});
