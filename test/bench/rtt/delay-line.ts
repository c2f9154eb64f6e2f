/**
 * The delay line of bench:rtt, run as root inside the lab's WAN namespace:
 *
 *   node --conditions=pgw-source --import tsx delay-line.ts <tunA> <tunB> <one-way ms>
 *
 * Every IP packet read from one TUN device is written into the other `one-way ms` later, in
 * order (delay-plan.ts routes the gateway's traffic through tunA -> tunB and the answers through
 * tunB -> tunA), so SYN and SYN-ACK are delayed like every data segment. Prints "ready" once both
 * devices are attached; stops on SIGTERM (the lab stops its processes so, even after a failure).
 */
import { readSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { openTun, type TunDevice } from '@pgw/original-dst';

/** Packets in flight per direction beyond which new ones are dropped (a slow reader must not grow memory without bound). */
const MAX_QUEUED = 20_000;
const MAX_PACKET = 65_536;

class Direction {
  private readonly queue: { due: number; packet: Buffer }[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  dropped = 0;

  constructor(
    private readonly delayMs: number,
    private readonly out: () => number,
  ) {}

  push(packet: Buffer): void {
    if (this.queue.length - this.head >= MAX_QUEUED) return void this.dropped++;
    this.queue.push({ due: performance.now() + this.delayMs, packet });
    if (this.timer === undefined) this.arm();
  }

  private arm(): void {
    const next = this.queue[this.head];
    if (next === undefined) {
      this.queue.length = 0;
      this.head = 0;
      this.timer = undefined;
      return;
    }
    // setTimeout's granularity is 1 ms: a packet leaves at most ~1 ms late, never early.
    this.timer = setTimeout(() => this.flush(), Math.max(0, Math.ceil(next.due - performance.now())));
  }

  private flush(): void {
    const now = performance.now();
    for (let next = this.queue[this.head]; next !== undefined && next.due <= now; next = this.queue[++this.head]) {
      try {
        writeSync(this.out(), next.packet);
      } catch {
        this.dropped++;
      }
    }
    this.arm();
  }
}

function drain(device: () => TunDevice, into: Direction): void {
  const buffer = Buffer.allocUnsafe(MAX_PACKET);
  for (;;) {
    let length: number;
    try {
      length = readSync(device().fd, buffer, 0, MAX_PACKET, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return;
      throw error;
    }
    if (length <= 0) return;
    into.push(Buffer.from(buffer.subarray(0, length)));
  }
}

function main(): void {
  const [nameA, nameB, delayArg] = process.argv.slice(2);
  const oneWayMs = Number(delayArg);
  if (!nameA || !nameB || !(oneWayMs >= 0 && oneWayMs <= 1_000)) throw new Error('usage: delay-line.ts <tunA> <tunB> <one-way ms, 0-1000>');
  let a: TunDevice | undefined;
  let b: TunDevice | undefined;
  const aToB = new Direction(oneWayMs, () => b!.fd);
  const bToA = new Direction(oneWayMs, () => a!.fd);
  a = openTun(nameA, () => drain(() => a!, aToB));
  b = openTun(nameB, () => drain(() => b!, bToA));
  const stop = () => {
    a?.close();
    b?.close();
    process.stderr.write(`delay line stopped; dropped ${aToB.dropped} + ${bToA.dropped} packets\n`);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.stdout.write('ready\n');
}

main();
