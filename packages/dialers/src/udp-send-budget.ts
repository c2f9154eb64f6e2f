/** A UDP socket's bytes waiting in libuv's queue for the kernel to take them. */
export interface SendQueue {
  queuedBytes(): number;
}

/**
 * Bytes that may wait in the send queues of all associations together. Each association bounds
 * its own (SEND_QUEUE_BYTES), but where the uplink is slower than the clients, 256 flows per
 * client x 256 KiB was 64 MiB a client, and a few such clients took the forwarder past its memory
 * limit (the kernel then kills it, every TCP relay with it). Only queues that hold bytes are
 * counted, again at most once a millisecond; in between, what was admitted is added, so the
 * total never reads low.
 */
export class UdpSendBudget {
  private readonly backlogged = new Set<SendQueue>();
  private total = 0;
  private countedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly limitBytes: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether `bytes` more may wait, all queues together; if so they are counted as waiting until the next count. */
  admits(bytes: number): boolean {
    if (this.backlogged.size === 0) return true;
    const now = this.now();
    if (now - this.countedAt >= 1) {
      this.total = 0;
      for (const queue of this.backlogged) {
        const queued = queue.queuedBytes();
        if (queued === 0) this.backlogged.delete(queue);
        else this.total += queued;
      }
      this.countedAt = now;
    }
    if (this.total + bytes > this.limitBytes) return false;
    this.total += bytes;
    return true;
  }

  /** After a send: a queue holding bytes is counted from now on (the next admits() counts again). */
  sent(queue: SendQueue): void {
    if (queue.queuedBytes() === 0 || this.backlogged.has(queue)) return;
    this.backlogged.add(queue);
    this.countedAt = Number.NEGATIVE_INFINITY;
  }

  /** A closed queue holds nothing any more. */
  forget(queue: SendQueue): void {
    this.backlogged.delete(queue);
  }
}
