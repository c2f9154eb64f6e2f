// The native accept path of the forwarder (acceptTcp, native/tcp_acceptor.cc) against real loopback
// TCP sockets: each connection reaches the handler once as a descriptor with its peer and local
// address, the descriptor relays through spliceDescriptor (bytes intact both ways, half-close),
// resetFd sends a reset, and close() stops accepting and closes the listening descriptor.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { acceptTcp, closeFd, describeSocket, resetFd, spliceDescriptor, type TcpAcceptor } from '@pgw/original-dst';
import { nodeScriptWithout } from '../support/deny-syscall.js';
import { loopbackListenFd } from '../support/loopback-listen-fd.js';

interface Accepted {
  fd: number;
  peer: string | null;
  originalAddress: string | null;
  originalPortOrErrno: number;
  local: string | null;
  localPort: number;
}

const acceptors: TcpAcceptor[] = [];
after(() => {
  for (const acceptor of acceptors) acceptor.close();
});

function acceptor(): { port: number; acceptor: TcpAcceptor; accepted: Accepted[]; next: () => Promise<Accepted> } {
  const { fd, port } = loopbackListenFd(128);
  const accepted: Accepted[] = [];
  const waiting: ((a: Accepted) => void)[] = [];
  const instance = acceptTcp(
    fd,
    128,
    (connFd, peer, originalAddress, originalPortOrErrno, local, localPort) => {
      const entry = { fd: connFd, peer, originalAddress, originalPortOrErrno, local, localPort };
      accepted.push(entry);
      waiting.shift()?.(entry);
    },
    (error) => assert.fail(`accept failed: ${error.message}`),
  );
  acceptors.push(instance);
  const next = () => {
    const ready = accepted.find((a) => !taken.has(a));
    if (ready !== undefined) {
      taken.add(ready);
      return Promise.resolve(ready);
    }
    return new Promise<Accepted>((resolve) =>
      waiting.push((a) => {
        taken.add(a);
        resolve(a);
      }),
    );
  };
  const taken = new Set<Accepted>();
  return { port, acceptor: instance, accepted, next };
}

// In the child, accept4 denied: a queued connection, and what the acceptor does about it for 1 s.
const ACCEPT_DENIED_SCRIPT = `
import net from 'node:net';
import { acceptTcp } from '@pgw/original-dst';
import { loopbackListenFd } from ${JSON.stringify(fileURLToPath(new URL('../support/loopback-listen-fd.ts', import.meta.url)))};
const { fd, port } = loopbackListenFd(16);
const errors = [];
let accepted = 0;
const acceptor = acceptTcp(fd, 16, () => void accepted++, (error) => errors.push(error.code));
const client = net.connect({ host: '127.0.0.1', port });
client.on('error', () => undefined);
await new Promise((resolve) => client.once('connect', resolve));
const before = process.cpuUsage();
await new Promise((resolve) => setTimeout(resolve, 1000));
const used = process.cpuUsage(before);
acceptor.close();
client.destroy();
console.log(JSON.stringify({ errors, accepted, cpuPercent: (used.user + used.system) / 1e4 }));
process.exit(0);
`;

describe('acceptTcp', () => {
  it('hands each connection over once as a descriptor with its addresses, and it relays through spliceDescriptor', async () => {
    const { port, next } = acceptor();
    const lan = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await once(lan, 'connect');
    const got = await next();
    assert.ok(got.fd >= 0);
    assert.equal(got.peer, '127.0.0.1');
    assert.equal(got.local, '127.0.0.1');
    assert.equal(got.localPort, port);
    // Not NAT-ed: conntrack has no original (errno in place of the port), or, when it tracked the
    // connection, the socket's own address.
    if (got.originalAddress === null) assert.ok(got.originalPortOrErrno > 0);
    else assert.deepEqual([got.originalAddress, got.originalPortOrErrno], ['127.0.0.1', port]);
    // Set once on the listening socket, inherited by every accepted one (no setsockopt per connection).
    const options = describeSocket(got.fd);
    assert.deepEqual([options.noDelay, options.keepAliveIdleS, options.keepAliveIntervalS, options.keepAliveCount], [true, 60, 1, 10], 'TCP_NODELAY and keepalive 60 s, 10 probes 1 s apart, as the net.Server set them');

    // The upstream side: a plain server standing in for the proxy's tunnel.
    const server = net.createServer({ allowHalfOpen: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const wanAccepted = once(server, 'connection') as Promise<[net.Socket]>;
    const upstream = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, allowHalfOpen: true });
    await once(upstream, 'connect');
    const [wan] = await wanAccepted;
    server.close();

    let closed!: (reason: string | null) => void;
    const ended = new Promise<string | null>((resolve) => (closed = resolve));
    const relay = spliceDescriptor(got.fd, upstream, 30_000, (reason) => closed(reason));
    assert.notEqual(relay, null, 'splice(2) is available on this kernel');
    const up = randomBytes(256 * 1024);
    const down = randomBytes(300 * 1024);
    const collect = (socket: net.Socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      return once(socket, 'end').then(() => Buffer.concat(chunks));
    };
    const atWan = collect(wan);
    const atLan = collect(lan);
    lan.end(up);
    assert.ok((await atWan).equals(up), 'client -> upstream intact, FIN relayed');
    wan.end(down);
    assert.ok((await atLan).equals(down), 'upstream -> client intact after the half-close');
    assert.equal(await ended, null);
    assert.deepEqual([relay!.bytesUp, relay!.bytesDown], [up.length, down.length]);
    lan.destroy();
    wan.destroy();
  });

  it('a connection queued on the listening socket before the acceptor existed has the client options too', async () => {
    // The agent creates the listener and the kernel completes handshakes into its queue before the
    // forwarder's acceptor runs: Linux copies a listener's options at the handshake, not at accept.
    const { fd, port } = loopbackListenFd(128);
    const early = net.connect({ host: '127.0.0.1', port });
    await once(early, 'connect');
    let got: number | null = null;
    const instance = acceptTcp(fd, 128, (connFd) => void (got = connFd), (error) => assert.fail(`accept failed: ${error.message}`));
    acceptors.push(instance);
    for (let i = 0; i < 100 && got === null; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.notEqual(got, null, 'the queued connection was accepted');
    const options = describeSocket(got!);
    assert.deepEqual([options.noDelay, options.keepAliveIdleS, options.keepAliveIntervalS, options.keepAliveCount], [true, 60, 1, 10], 'set before listen(), inherited at the handshake');
    closeFd(got!);
    early.destroy();
  });

  it('accepts a burst of connections, each exactly once', async () => {
    const { port, accepted } = acceptor();
    const clients = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const socket = net.connect({ host: '127.0.0.1', port });
        await once(socket, 'connect');
        return socket;
      }),
    );
    for (let i = 0; i < 100 && accepted.length < 100; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(accepted.length, 100);
    const ports = new Set(clients.map((c) => c.localPort));
    assert.equal(new Set(accepted.map((a) => a.fd)).size, 100, 'one descriptor each');
    assert.equal(ports.size, 100);
    for (const a of accepted) closeFd(a.fd);
    for (const c of clients) c.destroy();
  });

  it('resetFd ends the client with a reset; close() stops accepting and closes the listening descriptor', async () => {
    const { port, acceptor: instance, next } = acceptor();
    const lan = net.connect({ host: '127.0.0.1', port });
    await once(lan, 'connect');
    const { fd } = await next();
    const error = once(lan, 'error') as Promise<[NodeJS.ErrnoException]>;
    resetFd(fd);
    assert.equal((await error)[0].code, 'ECONNRESET');

    assert.notEqual(instance.fd, null);
    instance.close();
    assert.equal(instance.fd, null);
    const refused = net.connect({ host: '127.0.0.1', port });
    const [failure] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(failure.code, 'ECONNREFUSED');
  });
  // An accept the kernel refuses without taking the connection (a seccomp or LSM denial: EPERM)
  // leaves it queued, so the level-triggered watch fires again at once: the acceptor must pause
  // and say why, not spin a core retrying.
  it('an accept refused for good (EPERM) is reported and paused, not retried in a busy loop', { timeout: 60_000 }, () => {
    const out = nodeScriptWithout('accept4', ACCEPT_DENIED_SCRIPT);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { errors: string[]; accepted: number; cpuPercent: number };
    console.log(`# accept4 denied: ${result.errors.length} errors reported in 1 s, ${result.cpuPercent.toFixed(1)} % of a core`);
    assert.equal(result.accepted, 0);
    assert.ok(result.errors.length >= 1, 'the refusal is reported');
    assert.ok(result.errors.every((code) => code === 'EPERM'), `reported as EPERM: ${result.errors.join(', ')}`);
    assert.ok(result.errors.length <= 20, `paused between tries: ${result.errors.length} reports in 1 s`);
    assert.ok(result.cpuPercent < 25, `not a busy loop: ${result.cpuPercent.toFixed(1)} % of a core`);
  });
});
