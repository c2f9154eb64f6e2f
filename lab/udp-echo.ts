/**
 * The lab WAN's UDP echo service (issue 15): every datagram goes back to its sender unchanged,
 * from the address it was sent to. A UDP round trip through a proxy's UDP relay (SOCKS5 UDP
 * ASSOCIATE) or its absence shows on the client. Run as a program:
 *   node --import tsx lab/udp-echo.ts <ip> <port>
 */
import { createSocket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { fileURLToPath } from 'node:url';

export function startUdpEcho(ip: string, port: number): { close(): void } {
  const socket = createSocket('udp4');
  socket.on('message', (message, from) => socket.send(message, from.port, from.address));
  socket.bind(port, ip);
  return { close: () => socket.close() };
}

/** argv that runs this service on ip:port, e.g. inside a namespace via lab.spawn. */
export function udpEchoArgv(ip: string, port: number): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url), ip, String(port)];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [ip, portText] = process.argv.slice(2);
  const port = Number(portText);
  if (!ip || !isIPv4(ip)) throw new Error(`udp-echo: first argument ${JSON.stringify(ip)} is not an IPv4 address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`udp-echo: port ${JSON.stringify(portText)} is not a port`);
  const echo = startUdpEcho(ip, port);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { echo.close(); process.exit(0); });
}
