import { once } from 'node:events';
import net from 'node:net';

/**
 * Both ends of one TCP connection on loopback, half-open allowed: [the dialer, the accepted
 * socket] (accepted paused, as the forwarder's listener takes its clients). Its server is closed
 * once the connection is made, or when that fails.
 */
export async function connectedLoopbackPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const dialer = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await once(dialer, 'connect');
    const [socket] = await accepted;
    return [dialer, socket];
  } finally {
    server.close();
  }
}
