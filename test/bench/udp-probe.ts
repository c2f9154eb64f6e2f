/**
 * Runs inside a lab namespace for bench:udp (test/bench/udp.ts): UDP echo round trips,
 * sequential; prints one JSON line of the round-trip times in ms per path. argv[2]: JSON
 * { proxy, echo: {host, port}, count, plainFrom? }. In the gateway namespace: direct and through a
 * SOCKS5 UDP association. With plainFrom (in the LAN namespace): one plain socket bound to that
 * client address, so the datagrams take whatever path the gateway gives them (pgw's, in TPROXY mode).
 */
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { Socks5UdpAssociation } from '@pgw/dialers';
import { proxyEndpointSchema } from '@pgw/domain';

interface Input {
  proxy: unknown;
  echo: { host: string; port: number };
  count: number;
  plainFrom?: string;
}
const input = JSON.parse(process.argv[2]!) as Input;
const TIMEOUT_MS = 1000;

/** `count` round trips, one at a time; a lost datagram counts as TIMEOUT_MS (and is counted). */
async function roundTrips(send: (payload: Buffer) => void, onReply: (handler: (data: Buffer) => void) => void): Promise<{ rtts: number[]; lost: number }> {
  const rtts: number[] = [];
  let lost = 0;
  let waiting: ((data: Buffer) => void) | null = null;
  onReply((data) => waiting?.(data));
  for (let i = 0; i < input.count; i++) {
    const payload = Buffer.from(`pgw-bench-${i}`);
    const started = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), TIMEOUT_MS);
      waiting = (data) => {
        if (!data.equals(payload)) return; // a late answer to an earlier, timed-out one
        clearTimeout(timer);
        resolve(true);
      };
      send(payload);
    });
    if (ok) rtts.push(performance.now() - started);
    else lost++;
  }
  return { rtts, lost };
}

async function main(): Promise<void> {
  const direct = createSocket('udp4');
  await new Promise<void>((resolve) => direct.bind({ port: 0, ...(input.plainFrom ? { address: input.plainFrom } : {}) }, resolve));
  if (input.plainFrom) {
    const plain = await roundTrips((p) => direct.send(p, input.echo.port, input.echo.host), (h) => direct.on('message', h));
    direct.close();
    return console.log(JSON.stringify({ plain }));
  }
  const directResult = await roundTrips((p) => direct.send(p, input.echo.port, input.echo.host), (h) => direct.on('message', h));
  direct.close();
  let handler: (data: Buffer) => void = () => undefined;
  const association = await Socks5UdpAssociation.open(proxyEndpointSchema.parse(input.proxy), { timeoutMs: 3000 }, { onMessage: (data) => handler(data), onClose: () => undefined });
  const proxied = await roundTrips((p) => association.send(input.echo, p), (h) => (handler = h));
  association.close();
  console.log(JSON.stringify({ direct: directResult, socks5Udp: proxied }));
}
await main();
