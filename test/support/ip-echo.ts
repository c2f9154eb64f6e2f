import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An IP echo for a probe's check URL: it answers {"ip": <the caller's address>}, so a probe's exit IP is the proxy's source address. */
export interface IpEcho {
  readonly checkUrl: string;
  close(): void;
}

/** Listens on `ip` at a free port; the check URL is http://<ip>:<port>/ip. */
export async function startIpEcho(ip: string): Promise<IpEcho> {
  const server = createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ip: req.socket.remoteAddress })));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, ip, resolve));
  return { checkUrl: `http://${ip}:${(server.address() as AddressInfo).port}/ip`, close: () => server.close() };
}
