import { compareStreamIds, type EventBus, type ReceivedEvent, type Subscription } from '@pgw/events';

/** One SSE frame: the stream id (the client's Last-Event-ID), the type, the notice with the time it was published. */
const frameOf = ({ id, at, event }: ReceivedEvent) => `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify({ ...event, at: at.toISOString() })}\n\n`;

/** Notices the shared tail keeps to replay to a stream that attaches a little behind it. */
const REPLAY = 256;

interface Listener {
  /** Deliver only notices after this id. */
  after: string;
  send(frame: string): void;
}

/**
 * One tail of the notice streams for every SSE stream of this api, instead of one Redis connection
 * and one XREAD per open console: each notice is read, checked and formatted once, then written to
 * every stream (100 consoles: bench:api). A stream that starts at or after what the shared tail can
 * still replay joins it; one that resumes from further back (Last-Event-ID after a long absence)
 * gets a tail of its own, as every stream had before.
 */
export class EventFanout {
  private shared: { subscription: Subscription; floor: string; recent: { id: string; frame: string }[] } | null = null;
  private readonly listeners = new Set<Listener>();

  constructor(private readonly bus: EventBus) {}

  /** Sends every notice after `from` (a stream id) to `send`, in order; returns the function that stops it. */
  subscribe(from: string, send: (frame: string) => void): () => void {
    if (!this.shared) this.startShared(from);
    const shared = this.shared!;
    if (compareStreamIds(from, shared.floor) < 0) {
      const own = this.bus.tail(from, (received) => send(frameOf(received)));
      return () => void own.stop();
    }
    const listener: Listener = { after: from, send };
    for (const { id, frame } of shared.recent) if (compareStreamIds(id, from) > 0) send(frame);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopShared();
    };
  }

  private startShared(from: string): void {
    const recent: { id: string; frame: string }[] = [];
    const shared = { subscription: null as unknown as Subscription, floor: from, recent };
    shared.subscription = this.bus.tail(from, (received) => {
      const frame = frameOf(received);
      recent.push({ id: received.id, frame });
      // What falls out of the replay can no longer be given to a stream that attaches behind it.
      if (recent.length > REPLAY) shared.floor = recent.shift()!.id;
      for (const listener of this.listeners) if (compareStreamIds(received.id, listener.after) > 0) listener.send(frame);
    });
    this.shared = shared;
  }

  private stopShared(): void {
    void this.shared?.subscription.stop();
    this.shared = null;
  }
}
