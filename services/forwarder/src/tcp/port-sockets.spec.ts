import assert from 'node:assert/strict';
import { fstatSync, openSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { PortSocket } from './agent-listeners.js';
import { PENDING, PortSockets } from './port-sockets.js';

/** An agent whose answers the test gives by hand. */
class ManualSource {
  readonly asked: number[][] = [];
  private answers: ((sockets: Map<number, PortSocket>) => void)[] = [];
  acquire(ports: readonly number[]): Promise<Map<number, PortSocket>> {
    this.asked.push([...ports]);
    return new Promise((resolve) => this.answers.push(resolve));
  }
  answer(sockets: Map<number, PortSocket>): void {
    this.answers.shift()!(sockets);
  }
}

const openFd = () => openSync('/dev/null', 'r');
const isOpen = (fd: number) => {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
};
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('PortSockets', () => {
  it('gives a run what the agent answers within the wait, and asks for no extra run', async () => {
    const source = new ManualSource();
    let late = 0;
    const sockets = new PortSockets(source, 1_000, () => late++);
    const fd = openFd();
    const taking = sockets.take([20000, 20001]);
    source.answer(new Map<number, PortSocket>([[20000, { fd }], [20001, { reason: 'busy' }]]));
    assert.deepEqual(await taking, new Map<number, unknown>([[20000, { fd }], [20001, { reason: 'busy' }]]));
    await tick();
    assert.equal(late, 0);
  });

  it('a frozen agent holds a run for the wait only; its late answer asks for a run, which takes it without asking again', async () => {
    const source = new ManualSource();
    let late = 0;
    const sockets = new PortSockets(source, 50, () => late++);
    const started = Date.now();
    assert.deepEqual(await sockets.take([20000]), new Map([[20000, PENDING]]));
    assert.ok(Date.now() - started < 500, 'the run went on after the wait');
    // Another run meanwhile (a mapping added): its new port waits for the request in flight to end.
    assert.deepEqual(await sockets.take([20000, 20002]), new Map([[20000, PENDING], [20002, PENDING]]));
    assert.deepEqual(source.asked, [[20000]]);
    const fd = openFd();
    source.answer(new Map([[20000, { fd }]]));
    await tick();
    await tick();
    assert.equal(late, 1, 'one run asked for');
    const next = sockets.take([20000, 20002]);
    assert.deepEqual(source.asked, [[20000], [20002]], 'only the port still missing is asked for');
    source.answer(new Map<number, PortSocket>([[20002, { reason: 'not held' }]]));
    assert.deepEqual(await next, new Map<number, unknown>([[20000, { fd }], [20002, { reason: 'not held' }]]));
  });

  it('closes at once a late socket for a port the latest run did not ask for (a mapping moved away and back holds no old socket)', async () => {
    const source = new ManualSource();
    const sockets = new PortSockets(source, 10, () => undefined);
    await sockets.take([20000]);
    // The mapping moved to 20001 meanwhile: the latest run wants that port, not 20000.
    await sockets.take([20001]);
    const late = openFd();
    source.answer(new Map([[20000, { fd: late }]]));
    await tick();
    assert.equal(isOpen(late), false, 'a socket of 20000 kept would hold the port against the agent binding it again');
    assert.deepEqual([...sockets.held()], []);
  });

  it('lists the sockets it keeps, for the handback to a restarted agent', async () => {
    const source = new ManualSource();
    const sockets = new PortSockets(source, 10, () => undefined);
    await sockets.take([20000]);
    const fd = openFd();
    source.answer(new Map([[20000, { fd }]]));
    await tick();
    assert.deepEqual([...sockets.held()], [[20000, fd]]);
    // The agent refused it back: closed, and asked for anew at the next run.
    sockets.drop([20000]);
    assert.equal(isOpen(fd), false);
    assert.deepEqual([...sockets.held()], []);
  });

  it('closes a socket that arrived for a port no run wants any more, and every one after close()', async () => {
    const source = new ManualSource();
    const sockets = new PortSockets(source, 10, () => undefined);
    await sockets.take([20000]);
    const stale = openFd();
    source.answer(new Map([[20000, { fd: stale }]]));
    await tick();
    // The mapping moved away meanwhile: the next run wants another port.
    const taking = sockets.take([20005]);
    source.answer(new Map<number, PortSocket>([[20005, { reason: 'x' }]]));
    await taking;
    assert.equal(isOpen(stale), false, 'the unwanted socket is closed');
    await sockets.take([20006]);
    sockets.close();
    const afterClose = openFd();
    source.answer(new Map([[20006, { fd: afterClose }]]));
    await tick();
    assert.equal(isOpen(afterClose), false, 'a socket that arrives after close() is closed');
  });
});
