/**
 * bench:rtt's client, run inside the lab's LAN namespace with one JSON argument
 * ({ src, host, port, count, gapMs, timeoutMs }): `count` times, one after the other with
 * `gapMs` between them, connect from `src`, send an HTTP GET as soon as connected and take the
 * time from the connect() call (the SYN leaves then) to the connection's 'connect' event and to
 * the first response byte. Prints one JSON line: { connectMs[], ttfbMs[], failures, firstError }.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

interface Args {
  src: string;
  host: string;
  port: number;
  count: number;
  gapMs: number;
  timeoutMs: number;
}

function once(args: Args): Promise<{ connectMs: number; ttfbMs: number }> {
  return new Promise((resolve, reject) => {
    const request = `GET /ip HTTP/1.1\r\nHost: ${args.host}\r\nConnection: close\r\n\r\n`;
    const started = performance.now();
    let connectMs = Number.NaN;
    const socket = net.connect({ host: args.host, port: args.port, localAddress: args.src, noDelay: true });
    socket.setTimeout(args.timeoutMs, () => socket.destroy(new Error(`no answer within ${args.timeoutMs} ms`)));
    socket.once('connect', () => {
      connectMs = performance.now() - started;
      socket.write(request);
    });
    socket.once('data', () => {
      const ttfbMs = performance.now() - started;
      socket.destroy();
      resolve({ connectMs, ttfbMs });
    });
    socket.once('error', reject);
    socket.once('end', () => reject(new Error('closed before any response byte')));
  });
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as Args;
  if (!(args.count >= 1 && args.count <= 1_000)) throw new Error('count must be 1-1000');
  const connectMs: number[] = [];
  const ttfbMs: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  for (let i = 0; i < args.count; i++) {
    if (i > 0) await sleep(args.gapMs);
    try {
      const sample = await once(args);
      connectMs.push(sample.connectMs);
      ttfbMs.push(sample.ttfbMs);
    } catch (error) {
      failures++;
      firstError ??= (error as Error).message;
    }
  }
  process.stdout.write(`${JSON.stringify({ connectMs, ttfbMs, failures, firstError })}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`ttfb-client: ${error.message}\n`);
  process.exit(1);
});
