import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventBus, ReceivedEvent } from '@pgw/events';
import { EventFanout } from './event-fanout.js';

/** The bus's tail as the fan-out sees it: who tails from where, and a way to deliver notices. */
class Tails {
  readonly open: { from: string; handler: (received: ReceivedEvent) => void; stopped: boolean }[] = [];
  readonly bus = {
    tail: (from: string, handler: (received: ReceivedEvent) => void) => {
      const tail = { from, handler, stopped: false };
      this.open.push(tail);
      return { stop: async () => void (tail.stopped = true) };
    },
  } as unknown as EventBus;

  deliver(id: string): void {
    for (const tail of this.open) if (!tail.stopped) tail.handler({ id, at: new Date(0), event: { type: 'config.changed' } });
  }
}

const ids = (frames: string[]) => frames.map((f) => /^id: (\S+)/.exec(f)![1]);

test('every stream shares one tail; each notice is formatted once and goes to all of them', () => {
  const tails = new Tails();
  const fanout = new EventFanout(tails.bus);
  const a: string[] = [];
  const b: string[] = [];
  const stopA = fanout.subscribe('5-0', (f) => a.push(f));
  const stopB = fanout.subscribe('5-0', (f) => b.push(f));
  tails.deliver('6-0');
  assert.equal(tails.open.length, 1);
  assert.deepEqual([ids(a), ids(b)], [['6-0'], ['6-0']]);
  assert.equal(a[0], b[0]);
  assert.match(a[0]!, /^id: 6-0\nevent: config.changed\ndata: \{"type":"config.changed","at":"1970-01-01T00:00:00.000Z"\}\n\n$/);
  stopA();
  stopB();
  assert.equal(tails.open[0]!.stopped, true, 'no stream left: the shared tail stops');
});

test('a stream that starts behind the shared tail gets what it missed from the replay, and nothing at or before its id', () => {
  const tails = new Tails();
  const fanout = new EventFanout(tails.bus);
  fanout.subscribe('5-0', () => undefined);
  tails.deliver('6-0');
  tails.deliver('7-0');
  const late: string[] = [];
  fanout.subscribe('6-0', (f) => late.push(f));
  tails.deliver('8-0');
  assert.deepEqual(ids(late), ['7-0', '8-0']);
  assert.equal(tails.open.length, 1);
});

test('a stream resuming from before what the shared tail can replay gets a tail of its own', () => {
  const tails = new Tails();
  const fanout = new EventFanout(tails.bus);
  fanout.subscribe('5-0', () => undefined);
  const stop = fanout.subscribe('3-0', () => undefined);
  assert.deepEqual(tails.open.map((t) => t.from), ['5-0', '3-0']);
  stop();
  assert.equal(tails.open[1]!.stopped, true);
  for (let n = 6; n < 6 + 257; n++) tails.deliver(`${n}-0`);
  fanout.subscribe('6-0', () => undefined);
  assert.equal(tails.open.length, 2, 'everything after 6-0 is still in the replay');
  fanout.subscribe('5-0', () => undefined);
  assert.equal(tails.open.length, 3, '6-0 itself fell out of the replay');
});
