// A UDP association whose flow ends while the proxy has not answered UDP ASSOCIATE: the open must
// end with the flow (the caller's abort), not hold its control connection and timer for the whole
// connect timeout. Against a SOCKS5 server written here on loopback that answers the greeting and
// then stays silent.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { DialAbort, DialError, Socks5UdpAssociation } from '@pgw/dialers';
import { portSchema } from '@pgw/domain';

describe('SOCKS5 UDP ASSOCIATE aborted by the caller', { timeout: 20_000 }, () => {
  const sockets = new Set<net.Socket>();
  let closedByClient: () => void = () => undefined;
  const clientClosed = new Promise<void>((resolve) => (closedByClient = resolve));
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => socket.write(Buffer.from([5, 0]))); // no auth; the ASSOCIATE after it gets no answer
    socket.on('end', closedByClient);
    socket.on('close', closedByClient);
    socket.on('error', () => undefined);
  });
  after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });

  it('rejects as aborted at once and closes the control connection', async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const signal = new DialAbort();
    const started = Date.now();
    const opening = Socks5UdpAssociation.open({ protocol: 'socks5', host: '127.0.0.1', port: portSchema.parse(port) }, { timeoutMs: 8_000, signal }, { onMessage: () => undefined, onClose: () => undefined });
    setTimeout(() => signal.abort(), 200);
    await assert.rejects(opening, (error: unknown) => error instanceof DialError && error.reason === 'aborted');
    const took = Date.now() - started;
    assert.ok(took < 2_000, `the open ended ${took} ms after it began (aborted at 200 ms; the timeout is 8000)`);
    await clientClosed;
  });
});
