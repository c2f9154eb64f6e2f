import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Duplex } from 'node:stream';
import { FirstFlightSocket } from './first-flight.js';

/** A tunnel stand-in: records what is written to it, and emits what the test pushes. */
class FakeTunnel extends Duplex {
  written: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.written.push(chunk.toString());
    callback();
  }
  override _read(): void {}
}

describe('FirstFlightSocket', () => {
  it('holds the writes of the first tick as the first flight, then carries both ways once attached', async () => {
    const stand = new FirstFlightSocket();
    stand.write('GET / ');
    stand.write('HTTP/1.0\r\n\r\n');
    assert.equal((await stand.firstFlight).toString(), 'GET / HTTP/1.0\r\n\r\n');
    // Written after the flight was taken, before a tunnel exists (a tick later): sent once there is one.
    stand.write('late');
    await new Promise(setImmediate);
    const tunnel = new FakeTunnel();
    stand.attach(tunnel as unknown as Socket);
    stand.write('more');
    await new Promise(setImmediate);
    assert.deepEqual(tunnel.written, ['late', 'more']);
    let answered = false;
    void stand.answered.then(() => (answered = true));
    await new Promise(setImmediate);
    assert.equal(answered, false, 'nothing came back yet');
    tunnel.push('HTTP/1.0 200 OK\r\n\r\n');
    const [chunk] = (await once(stand, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'HTTP/1.0 200 OK\r\n\r\n');
    await stand.answered;
    tunnel.push(null);
    await once(stand, 'end');
    stand.destroy();
    assert.equal(tunnel.destroyed, true, 'destroying the stand-in destroys the tunnel');
  });
});

describe('FirstFlightSocket destroyed before any write', () => {
  it('rejects the first flight, so nobody waits for it forever', async () => {
    const stand = new FirstFlightSocket();
    stand.on('error', () => undefined);
    stand.destroy(new Error('aborted'));
    await assert.rejects(stand.firstFlight, /aborted/);
  });
});

describe('FirstFlightSocket ended or destroyed around attach', () => {
  it('an end() before the tunnel ends the tunnel once attached; a tunnel attached after destroy is destroyed', async () => {
    const stand = new FirstFlightSocket();
    stand.end('only flight');
    assert.equal((await stand.firstFlight).toString(), 'only flight');
    await new Promise(setImmediate);
    const tunnel = new FakeTunnel();
    stand.attach(tunnel as unknown as Socket);
    await once(tunnel, 'finish');
    const late = new FakeTunnel();
    stand.destroy();
    stand.attach(late as unknown as Socket);
    assert.equal(late.destroyed, true);
  });
});
