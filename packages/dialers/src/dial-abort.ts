// A dial's abort signal without EventTarget: Node's AbortSignal allocates a listener record and
// walks its options on every addEventListener/removeEventListener, and every handshake adds and
// removes one, twice per forwarded connection with a warm pool. A Set does the same for a
// fraction of that. AbortSignal fits DialSignal too (the health prober passes one).
import type { DialSignal } from './types.js';

const ABORT_EVENT = new Event('abort');

export class DialAbort implements DialSignal {
  private abortedNow = false;
  private readonly listeners = new Set<EventListenerObject>();

  get aborted(): boolean {
    return this.abortedNow;
  }

  addEventListener(_type: 'abort', listener: EventListenerObject): void {
    if (!this.abortedNow) this.listeners.add(listener);
  }

  removeEventListener(_type: 'abort', listener: EventListenerObject): void {
    this.listeners.delete(listener);
  }

  /** Tells every listener once (a listener removing itself or others meanwhile is fine). */
  abort(): void {
    if (this.abortedNow) return;
    this.abortedNow = true;
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const listener of listeners) listener.handleEvent(ABORT_EVENT);
  }
}
