// The forwarder's JavaScript relay (PGW_FORWARDER_RELAY=js, and where the kernel relay is declined)
// against real loopback TCP connections: a reset on one side reaches the other as a reset, after
// the bytes sent before it, never as an end of stream (splice-relay.test.ts holds the kernel
// relay to the same).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import { dupFd, socketDescriptor } from '@pgw/original-dst';
import { Relay, type RelayOwner } from '../../services/forwarder/src/tcp/relay.js';
import { waitFor } from '../../lab/wait.js';
import { connectedLoopbackPair } from '../support/loopback-pair.js';
import { rawDescriptor, readUntilEnd } from '../support/stream-end.js';


/**
 * A JS relay between a LAN client and a proxy side; the side named `raw` is read as a C client
 * reads it (a raw descriptor), the other stays a Node socket to write and reset from. `released`
 * resolves once the relay has let both of its sockets go.
 */
async function jsRelay(raw: 'lan' | 'wan', idleTimeoutMs = 30_000): Promise<{ relay: Relay; reader: number; writer: net.Socket; released: Promise<void> }> {
  const [lan, client] = await connectedLoopbackPair();
  const [upstream, wan] = await connectedLoopbackPair();
  const reader = rawDescriptor(raw === 'lan' ? lan : wan);
  const writer = raw === 'lan' ? wan : lan;
  writer.on('error', () => undefined);
  // The relay takes the client as a bare descriptor, as the acceptor hands it over.
  const clientFd = dupFd(socketDescriptor(client));
  client.destroy();
  let onReleased!: () => void;
  const released = new Promise<void>((resolve) => (onReleased = resolve));
  const owner: RelayOwner = { relayStarted: () => undefined, relayReleased: () => onReleased() };
  const relay = new Relay(clientFd, owner);
  relay.attach(upstream, idleTimeoutMs, 'js');
  return { relay, reader, writer, released };
}


describe('JS relay: resets', () => {
  it('a reset from the upstream reaches the client as a reset, after every byte sent before it', async () => {
    const r = await jsRelay('lan');
    const down = randomBytes(400_000);
    r.writer.write(down);
    // All of it read by the relay before the reset (a reset throws away what its own socket still holds).
    await waitFor('the relay took every byte', 10_000, () => r.relay.bytesDown === down.length, { intervalMs: 5 });
    r.writer.resetAndDestroy();
    const outcome = await readUntilEnd(r.reader);
    closeSync(r.reader);
    await r.released;
    assert.equal(outcome.bytes.length, down.length, 'every byte the upstream sent before its reset');
    assert.ok(outcome.bytes.equals(down));
    assert.equal(outcome.end, 'ECONNRESET', 'the client sees the reset, not an end of stream');
  });

  it('a reset from the upstream behind megabytes a slow client still reads: every byte the relay took reaches it, then the reset', { timeout: 60_000 }, async () => {
    const r = await jsRelay('lan');
    const down = randomBytes(16 << 20);
    r.writer.write(down);
    // The client reads nothing yet: the relay stops reading when the client's side is full.
    let last = -1;
    while (r.relay.bytesDown !== last) {
      last = r.relay.bytesDown;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    r.writer.resetAndDestroy();
    const outcome = await readUntilEnd(r.reader, 45_000, { chunk: 32 * 1024, pauseMs: 10 });
    closeSync(r.reader);
    await r.released;
    assert.equal(outcome.end, 'ECONNRESET');
    assert.equal(outcome.bytes.length, r.relay.bytesDown, 'every byte the relay wrote to the client reached it');
    assert.ok(outcome.bytes.equals(down.subarray(0, outcome.bytes.length)), 'in order, intact');
  });

  // Bounded all the same: a reader taking a little now and then (a proxy or a server trickling its
  // window open, the client gone) kept the relay, its connection slots and buffers, for as long as it
  // liked. This relay sees the reset only behind the upstream's last bytes (a paused Node socket
  // reads no error), so the idle timeout counts from there: the test asserts the cut, not its time.
  it('a reset from the upstream behind a reader that takes a little at a time: the client is reset an idle timeout after the relay saw the failure, bytes left untaken', { timeout: 60_000 }, async () => {
    const idleTimeoutMs = 2_000;
    const r = await jsRelay('lan', idleTimeoutMs);
    r.writer.write(randomBytes(16 << 20));
    let last = -1;
    while (r.relay.bytesDown !== last) {
      last = r.relay.bytesDown;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    r.writer.resetAndDestroy();
    const started = Date.now();
    const outcome = await readUntilEnd(r.reader, 45_000, { chunk: 16 * 1024, pauseMs: 20 });
    const waitedMs = Date.now() - started;
    closeSync(r.reader);
    await r.released;
    console.log(`# reset after ${waitedMs} ms, ${outcome.bytes.length} of ${r.relay.bytesDown} bytes read`);
    assert.equal(outcome.end, 'ECONNRESET');
    assert.ok(outcome.bytes.length < r.relay.bytesDown, 'the reader still had bytes to take: the wait is what is bounded');
  });

  it('a reset from the client reaches the upstream as a reset', async () => {
    const r = await jsRelay('wan');
    r.writer.write('request');
    const outcome = readUntilEnd(r.reader);
    await new Promise((resolve) => setTimeout(resolve, 100));
    r.writer.resetAndDestroy();
    assert.deepEqual(await outcome, { bytes: Buffer.from('request'), end: 'ECONNRESET' }, 'the proxy gets what the client sent, then the reset');
    closeSync(r.reader);
    await r.released;
  });

  // The gateway cutting a stream neither end ended resets both far ends (a FIN would tell the
  // proxy's target, or the client, that it ended whole).
  it('reset() (a policy cutting the connection) resets the upstream too, not only the client', async () => {
    const r = await jsRelay('wan');
    await new Promise((resolve) => setTimeout(resolve, 50));
    r.relay.reset();
    assert.equal((await readUntilEnd(r.reader)).end, 'ECONNRESET', 'the proxy side gets a reset, not an end of stream');
    closeSync(r.reader);
    await r.released;
    r.writer.destroy();
  });

  it('reset() after the client ended its stream cleanly: the proxy side, reading late, gets every byte and a FIN', async () => {
    const r = await jsRelay('wan'); // the proxy side not read until after the reset: the bytes wait in the kernel
    const request = randomBytes(512 * 1024);
    r.writer.end(request);
    await waitFor('the request relayed', 5_000, () => r.relay.bytesUp === request.length, { intervalMs: 5 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    r.relay.reset();
    const toWan = await readUntilEnd(r.reader);
    closeSync(r.reader);
    await r.released;
    assert.equal(toWan.end, 'end', `the stream the client ended stays whole (${toWan.bytes.length} of ${request.length} bytes, then ${toWan.end})`);
    assert.ok(toWan.bytes.equals(request));
  });

  it('the idle timeout resets both sides', async () => {
    for (const side of ['lan', 'wan'] as const) {
      const r = await jsRelay(side, 300);
      assert.equal((await readUntilEnd(r.reader, 3_000)).end, 'ECONNRESET', `the ${side} side gets a reset after the idle timeout`);
      closeSync(r.reader);
      await r.released;
      r.writer.destroy();
    }
  });

  it('an end from the upstream still reaches the client as an end', async () => {
    const r = await jsRelay('lan');
    r.writer.end('last words');
    assert.deepEqual(await readUntilEnd(r.reader), { bytes: Buffer.from('last words'), end: 'end' });
    closeSync(r.reader);
    await r.released;
    r.writer.destroy();
  });
});
