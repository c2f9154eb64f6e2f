/**
 * IP-echo server for the lab's "internet" host. Run as a program:
 *   node --import tsx lab/echo-server.ts <ip> <httpPort> <tcpEchoPort>
 * GET /ip answers {"ip":"<remote address>"}; any other request is 404.
 * The TCP port echoes every byte back (relay tests).
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { isIP } from 'node:net';

export function startEchoServers(ip: string, httpPort: number, tcpPort: number): { close(): void } {
  const http = createHttpServer((req, res) => {
    if (req.method === 'GET' && req.url === '/ip') {
      const body = JSON.stringify({ ip: req.socket.remoteAddress });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  http.keepAliveTimeout = 5000;
  const tcp = createTcpServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  http.listen(httpPort, ip);
  tcp.listen(tcpPort, ip);
  return {
    close() {
      http.close();
      tcp.close();
    },
  };
}

function parsePort(value: string | undefined, what: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`echo-server: ${what} ${JSON.stringify(value)} is not a port`);
  return port;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [ip, httpPort, tcpPort] = process.argv.slice(2);
  if (!ip || isIP(ip) === 0) throw new Error(`echo-server: first argument ${JSON.stringify(ip)} is not an IP address`);
  const servers = startEchoServers(ip, parsePort(httpPort, 'http port'), parsePort(tcpPort, 'tcp echo port'));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { servers.close(); process.exit(0); });
}
