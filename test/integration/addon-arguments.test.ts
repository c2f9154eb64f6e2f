// What the addon takes as a descriptor or a port from JavaScript. V8's Int32Value wraps: NaN became
// 0 and 2^32 + 1 became 1, so a bad value sent the process's own stdin or stdout to a peer over a
// packet channel, and a port of 2^32 + 80 dialed port 80. Each is refused now, naming the argument.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { closeFd, connectPacketServer, dialNative, dialNativeOnFd, listenLoopbackTcp, PacketServer, PacketSocket, setTcpKeepalive, transparentUdpSocket, watchDescriptor } from '@pgw/original-dst';

describe('addon arguments: descriptors and ports are whole numbers in range', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-addon-args-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a descriptor list with NaN, a fraction or a value past 2^31 is refused; nothing is sent', async () => {
    const peers: number[] = [];
    const server = new PacketServer(join(dir, 'args.sock'), { mode: 0o600, gid: -1 }, (peer) => peers.push(peer.fd), () => undefined);
    const peer = connectPacketServer(join(dir, 'args.sock'));
    const socket = new PacketSocket(peer, { onPacket: () => undefined, onClose: () => undefined });
    try {
      for (const fds of [[Number.NaN], [2 ** 32 + 1], [1.5], [-1], [Number.POSITIVE_INFINITY]]) {
        assert.throws(() => socket.send(Buffer.from('x'), fds), /descriptors must be/, String(fds));
      }
    } finally {
      socket.close();
      server.close();
      for (const fd of peers) closeFd(fd);
    }
  });

  it('a socket mark past 2^32 - 1, NaN, negative or a fraction is refused before any socket exists; a transparent socket needs one', () => {
    for (const mark of [2 ** 32, Number.NaN, -1, 0.5]) {
      assert.throws(() => listenLoopbackTcp(1, 16, { transparent: false, mark }), /mark 0-0xffffffff/, String(mark));
    }
    for (const mark of [0, 2 ** 32 + 1, Number.NaN]) {
      assert.throws(() => transparentUdpSocket('127.0.0.1', 1, { recvOrigDst: false, mark }), /mark 1\.\.0xffffffff/, String(mark));
    }
    for (const receiveBuffer of [-1, 0.5, Number.NaN, 64 * 1024 * 1024 + 1]) {
      assert.throws(() => transparentUdpSocket('127.0.0.1', 1, { recvOrigDst: false, mark: 1, receiveBuffer }), /receiveBuffer 0\.\.64 MiB/, String(receiveBuffer));
    }
  });

  it('a port past 65535, NaN or 0 is refused before any dial', () => {
    for (const port of [2 ** 32 + 80, Number.NaN, 0, 65_536, 80.5]) {
      assert.throws(() => dialNative('127.0.0.1', port, [], 1_000, () => undefined), /port/, String(port));
    }
  });

  it('keepalive timers past their range or not whole are refused, not wrapped (2^32 + 5 was 5 s)', async () => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      for (const idleS of [2 ** 32 + 5, Number.NaN, 1.5, 32_768]) {
        assert.throws(() => setTcpKeepalive(socket, { idleS, intervalS: 1, count: 3 }), /TCP_KEEPIDLE must be/, String(idleS));
      }
      assert.throws(() => setTcpKeepalive(socket, { idleS: 5, intervalS: 1, count: 128 }), /TCP_KEEPCNT must be/);
      setTcpKeepalive(socket, { idleS: 5, intervalS: 1, count: 3 });
    } finally {
      socket.destroy();
      server.close();
    }
  });

  it('a packet socket\'s group of NaN (root\'s, wrapped) or past 2^31 is refused; -1 keeps the group', () => {
    for (const gid of [Number.NaN, 2 ** 32, 0.5, -2]) {
      assert.throws(() => new PacketServer(join(dir, 'gid.sock'), { mode: 0o660, gid }, () => undefined, () => undefined), /gid/, String(gid));
    }
    new PacketServer(join(dir, 'gid.sock'), { mode: 0o660, gid: -1 }, () => undefined, () => undefined).close();
  });

  it('a netlink protocol of NaN (NETLINK_ROUTE, wrapped) is refused', async () => {
    const binding = createRequire(import.meta.url)('../../packages/original-dst/build/Release/original_dst.node') as { netlinkTalk(protocol: number, request: Buffer, answers: number): Promise<Buffer> };
    assert.throws(() => binding.netlinkTalk(Number.NaN, Buffer.alloc(16), 1), /protocol must be/);
  });

  it('a watch of NaN or 2^32 (stdin, wrapped) is refused', () => {
    for (const fd of [Number.NaN, 2 ** 32, -1, 0.5]) assert.throws(() => watchDescriptor(fd, () => undefined), /DescriptorWatch/, String(fd));
  });

  it('a watch of a large number that is no open descriptor is refused without growing the reactor\'s table to it', () => {
    // The table grew to the number first (16 bytes a slot) and the kernel refused it after: 2^31 - 1
    // asked for 34 GB, an abort or the OOM killer. 2^24 shows it at 256 MiB, which the RSS keeps.
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    assert.throws(() => watchDescriptor(2 ** 24, () => undefined), /EBADF|bad file descriptor/i);
    const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
    assert.ok(grownMiB < 64, `the process grew by ${grownMiB.toFixed(0)} MiB for a descriptor that does not exist`);
  });
});

describe('native dial cancelled after its exchange and before its outcome is delivered', () => {
  it('delivers nothing and closes the upstream socket (the caller said it wants neither)', async () => {
    const server = net.createServer();
    const closedByDial = new Promise<void>((resolve) => server.once('connection', (socket) => socket.once('close', () => resolve()).resume()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as net.AddressInfo;
      const fd = await new Promise<number>((resolve, reject) => dialNative('127.0.0.1', port, [], 2_000, (failure, connected) => (failure ? reject(new Error(failure.what)) : resolve(connected))));
      // No stages: it succeeds inside the constructor; its outcome comes from the loop later.
      let delivered = false;
      const dial = dialNativeOnFd(fd, [], 2_000, () => void (delivered = true));
      dial.cancel();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(delivered, false, 'onDone ran after cancel()');
      await Promise.race([closedByDial, new Promise((_, reject) => setTimeout(() => reject(new Error('the upstream socket was left open')), 2_000))]);
    } finally {
      server.close();
    }
  });
});
