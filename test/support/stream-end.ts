// How a TCP stream ended, as a C client sees it: a Node socket cannot always tell. libuv reports
// the end of a stream whose last bytes and reset arrive in one wake-up (a short read, then
// POLLHUP: uv__stream_io), so a reset relayed right behind the bytes would read as a FIN there.
import { readSync } from 'node:fs';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { dupFd, socketDescriptor } from '@pgw/original-dst';

/**
 * Takes `socket`'s connection out of Node (a duplicate of its descriptor; the socket destroyed,
 * which closes only Node's copy) before anything arrives on it: nothing is read from it but by readUntilEnd.
 */
export function rawDescriptor(socket: net.Socket): number {
  const fd = dupFd(socketDescriptor(socket));
  socket.destroy();
  return fd;
}

/** How a slow reader reads: `chunk` bytes at most per read, `pauseMs` after each. */
export interface ReadPace {
  readonly chunk: number;
  readonly pauseMs: number;
}

/**
 * Reads a non-blocking socket descriptor until its end ('end') or an error (its code), `timeoutMs`
 * at most; as fast as it can, or at `pace`.
 */
export async function readUntilEnd(fd: number, timeoutMs = 3_000, pace?: ReadPace): Promise<{ bytes: Buffer; end: string }> {
  const chunks: Buffer[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const buffer = Buffer.alloc(pace?.chunk ?? 65536);
    try {
      const n = readSync(fd, buffer);
      if (n === 0) return { bytes: Buffer.concat(chunks), end: 'end' };
      chunks.push(buffer.subarray(0, n));
      if (pace !== undefined) await sleep(pace.pauseMs);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      if (code !== 'EAGAIN') return { bytes: Buffer.concat(chunks), end: code };
      if (Date.now() > deadline) return { bytes: Buffer.concat(chunks), end: `nothing more within ${timeoutMs} ms` };
      await sleep(5);
    }
  }
}
