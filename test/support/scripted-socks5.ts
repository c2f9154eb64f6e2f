/**
 * A no-auth SOCKS5 server on loopback that answers UDP ASSOCIATE with a scripted relay address
 * (the ATYP byte and the address bytes as given, then `relayPort`): for the tests of what a proxy
 * may name as its UDP relay. Anything but a greeting and UDP ASSOCIATE ends the connection.
 */
import net from 'node:net';

export interface ScriptedSocks5 {
  readonly port: number;
  close(): void;
}

/** `replyDelayMs`: the ASSOCIATE reply waits that long (a slow or stalling proxy). */
export async function startScriptedSocks5(host: string, relay: Buffer, relayPort: () => number, replyDelayMs = 0): Promise<ScriptedSocks5> {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let greeted = false;
    socket.on('data', (chunk) => {
      if (!greeted) {
        greeted = true;
        socket.write(Buffer.from([5, 0]));
        if (chunk.length <= 2 + chunk[1]!) return;
        chunk = chunk.subarray(2 + chunk[1]!);
      }
      if (chunk[1] !== 3) return void socket.destroy();
      const port = Buffer.alloc(2);
      port.writeUInt16BE(relayPort());
      const reply = Buffer.concat([Buffer.from([5, 0, 0]), relay, port]);
      if (replyDelayMs === 0) socket.write(reply);
      else setTimeout(() => socket.writable && socket.write(reply), replyDelayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}
