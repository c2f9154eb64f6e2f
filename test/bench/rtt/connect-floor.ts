/**
 * bench:rtt's proxy floor, run inside the gateway namespace (without pgw's table) with one JSON
 * argument ({ proxies: [{ url, handshake }], target, count, gapMs }): the time to the first byte of
 * the answer to GET /ip, `count` times each, `gapMs` apart, (a) direct to the target, and through
 * each proxy with @pgw/dialers (b) on a connection opened `gapMs` earlier (open() then
 * connectOn(): a warm connection) and (c) with a whole dial (TCP, pipelined handshake: cold).
 * (b) - (a) and (c) - (a) are what the proxy itself costs a client on the gateway, with no relay
 * in between: its CONNECT processing and its relaying of the bytes, plus the round trip of a
 * cold handshake. Prints one JSON line: { directMs[], proxies: { [url]: { warmMs[], coldMs[] } } }.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { dialerFor } from '@pgw/dialers';
import { parseProxyUrl, type ProxyHandshake } from '@pgw/domain';

interface Args {
  proxies: { url: string; handshake: ProxyHandshake }[];
  target: { host: string; port: number };
  count: number;
  gapMs: number;
}

/** Writes the GET on `socket` once `ready` resolves; resolves at the first byte of the answer. */
function firstByte(socket: net.Socket, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.once('data', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
    socket.write(`GET /ip HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

async function direct(target: Args['target']): Promise<number> {
  const started = performance.now();
  const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  await firstByte(socket, target.host);
  return performance.now() - started;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as Args;
  if (!(args.count >= 1 && args.count <= 200)) throw new Error('count must be 1-200');
  const directMs: number[] = [];
  for (let i = 0; i < args.count; i++) {
    await sleep(args.gapMs);
    directMs.push(await direct(args.target));
  }
  const proxies: Record<string, { warmMs: number[]; coldMs: number[] }> = {};
  for (const { url, handshake } of args.proxies) {
    const proxy = parseProxyUrl(url);
    const dialer = dialerFor(proxy.protocol);
    const figures = { warmMs: [] as number[], coldMs: [] as number[] };
    for (let i = 0; i < args.count; i++) {
      const warm = await dialer.open(proxy, { timeoutMs: 5_000, handshake });
      await sleep(args.gapMs);
      let started = performance.now();
      await firstByte(await dialer.connectOn(warm, proxy, args.target, { timeoutMs: 5_000 }), args.target.host);
      figures.warmMs.push(performance.now() - started);
      await sleep(args.gapMs);
      started = performance.now();
      await firstByte(await dialer.dial(proxy, args.target, { timeoutMs: 5_000, handshake }), args.target.host);
      figures.coldMs.push(performance.now() - started);
    }
    proxies[url] = figures;
  }
  process.stdout.write(`${JSON.stringify({ directMs, proxies })}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`connect-floor: ${error.message}\n`);
  process.exit(1);
});
