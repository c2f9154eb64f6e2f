import { createSocket, type Socket as UdpSocket } from 'node:dgram';

/** A UDP socket of the test bound to `host` on a free port, keeping every datagram it receives. */
export async function udpListener(host: string): Promise<{ socket: UdpSocket; port: number; received: Buffer[] }> {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (message) => received.push(message));
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return { socket, port: socket.address().port, received };
}
