/**
 * One UDP round trip from a LAN client to the lab's UDP echo service (issue 15): sends a datagram
 * from <src> to <host>:<port> and prints `reply` when it comes back within <timeoutMs>, else
 * `none`. The demo uses it to say truthfully whether a client's UDP (not DNS) gets through its
 * proxy. Run as a program, inside the LAN namespace:
 *   node --import tsx lab/udp-echo-client.ts <src> <host> <port> <timeoutMs>
 */
import { createSocket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { fileURLToPath } from 'node:url';

export function udpRoundTrip(src: string, host: string, port: number, timeoutMs: number): Promise<'reply' | 'none'> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const done = (result: 'reply' | 'none') => {
      clearTimeout(timer);
      socket.close();
      resolve(result);
    };
    const timer = setTimeout(() => done('none'), timeoutMs);
    socket.once('message', () => done('reply'));
    socket.once('error', () => done('none'));
    socket.bind({ address: src }, () => socket.send(Buffer.from('pgw-demo-udp'), port, host));
  });
}

/** argv that runs one round trip, e.g. inside the LAN namespace via `ip netns exec`. */
export function udpEchoClientArgv(src: string, host: string, port: number, timeoutMs: number): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url), src, host, String(port), String(timeoutMs)];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [src, host, portText, timeoutText] = process.argv.slice(2);
  for (const [name, value] of [['src', src], ['host', host]] as const) if (!value || !isIPv4(value)) throw new Error(`udp-echo-client: ${name} ${JSON.stringify(value)} is not an IPv4 address`);
  const port = Number(portText);
  const timeoutMs = Number(timeoutText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`udp-echo-client: port ${JSON.stringify(portText)} is not a port`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) throw new Error(`udp-echo-client: timeout ${JSON.stringify(timeoutText)} is not 1..60000 ms`);
  console.log(await udpRoundTrip(src!, host!, port, timeoutMs));
}
