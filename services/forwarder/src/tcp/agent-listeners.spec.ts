import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { forwarderMessageSchema, LISTENER_PROTOCOL_VERSION, parseListenerMessage } from '@pgw/domain';
import { createLogger } from '@pgw/log';
import { closeFd, describeSocket, listenLoopbackTcp, PacketServer, PacketSocket } from '@pgw/original-dst';
import { AgentListeners, type PortSocket } from './agent-listeners.js';

/**
 * The forwarder's end of the listener protocol against an in-process agent end on a real Unix
 * SOCK_SEQPACKET socket (the agent's peer check wants uid 0: the tests run as root, as the lab's).
 * The agent end grants every port asked for, with a listening socket of its own for each.
 */
describe('AgentListeners', () => {
  let dir: string;
  let server: PacketServer;
  let requests = 0;
  const held: number[] = [];

  before(async () => {
    for (let i = 0; i < 3; i++) held.push(listenLoopbackTcp(await freeLoopbackPort(), 16));
    dir = await mkdtemp(join(tmpdir(), 'pgw-agent-listeners-'));
    server = new PacketServer(join(dir, 'listeners.sock'), { mode: 0o600, gid: -1 }, (peer) => {
      const session: PacketSocket = new PacketSocket(peer, {
        onPacket(packet) {
          const message = parseListenerMessage(forwarderMessageSchema, packet.data);
          if (message.type !== 'request') return void session.send(Buffer.from(JSON.stringify({ v: LISTENER_PROTOCOL_VERSION, type: 'handback_result', id: message.id, held: [], refused: [] })), []);
          requests++;
          // The descriptors sent are the kernel's duplicates: the agent end keeps its own.
          session.send(Buffer.from(JSON.stringify({ v: LISTENER_PROTOCOL_VERSION, type: 'sockets', id: message.id, granted: message.ports, refused: [] })), message.ports.map((_, i) => held[i % held.length]!));
        },
        onClose: () => undefined,
      });
    }, () => undefined);
  });
  after(async () => {
    server.close();
    for (const fd of held) closeFd(fd);
    await rm(dir, { recursive: true, force: true });
  });

  it('hands over the granted sockets at once, without a retry delay after a full grant', async () => {
    let connected!: () => void;
    const ready = new Promise<void>((resolve) => (connected = resolve));
    const listeners = new AgentListeners({ path: server.path, inventory: () => new Map(), handbackRefused: () => undefined, onConnected: () => connected() }, createLogger('test', 'error'));
    listeners.start();
    await ready;
    // No setTimeout fires from here on: an acquire that waited for a retry timer would never end
    // (it slept 100 ms after every full grant: on the path of a rebooted gateway's listeners).
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const result = await Promise.race([listeners.acquire([20001, 20002, 20003]), wallClock(3_000).then(() => 'still waiting' as const)]);
      if (result === 'still waiting') assert.fail('acquire waited for a timer after every port was granted');
      assert.equal(requests, 1);
      for (const port of [20001, 20002, 20003]) {
        const socket: PortSocket | undefined = result.get(port);
        assert.ok(socket !== undefined);
        assert.ok('fd' in socket, `port ${port} granted`);
        assert.equal(describeSocket(socket.fd).listening, true);
        closeFd(socket.fd);
      }
    } finally {
      mock.timers.reset();
      listeners.stop();
    }
  });

  it('tells which handed-back sockets the agent refused, before onConnected, across chunks', async () => {
    // An agent restarted from a state file that lacks a port it had granted: it closes its copy of
    // the socket, and the port stays the forwarder's alone, its client blocked, unless the
    // forwarder lets go of it and asks for it anew.
    const path = join(dir, 'refusing-agent.sock');
    const refusing = new PacketServer(path, { mode: 0o600, gid: -1 }, (peer) => {
      const session: PacketSocket = new PacketSocket(peer, {
        onPacket(packet) {
          for (const fd of packet.fds) closeFd(fd);
          const message = parseListenerMessage(forwarderMessageSchema, packet.data);
          const refused = message.ports.filter((port) => port % 2 === 0).map((port) => ({ port, reason: `port ${port} is not in the agent's desired state` }));
          session.send(Buffer.from(JSON.stringify({ v: LISTENER_PROTOCOL_VERSION, type: 'handback_result', id: message.id, held: message.ports.filter((port) => port % 2 === 1), refused })), []);
        },
        onClose: () => undefined,
      });
    }, () => undefined);
    const events: string[] = [];
    let connected!: () => void;
    const ready = new Promise<void>((resolve) => (connected = resolve));
    // More ports than one message carries (200): two chunks.
    const ports = Array.from({ length: 250 }, (_, i) => 20_000 + i);
    const inventory = new Map(ports.map((port, i) => [port, held[i % held.length]!]));
    const listeners = new AgentListeners(
      { path, inventory: () => inventory, handbackRefused: (ports) => void events.push(`refused ${ports.join(',')}`), onConnected: () => (events.push('connected'), connected()) },
      createLogger('test', 'error'),
    );
    try {
      listeners.start();
      await ready;
      assert.deepEqual(events, [`refused ${ports.filter((port) => port % 2 === 0).join(',')}`, 'connected']);
    } finally {
      listeners.stop();
      refusing.close();
    }
  });

  it('hands back, when the agent asks, the sockets it holds of the ports asked for, and only those', async () => {
    // The agent let go of a port (a mapping moved away and back while the forwarder lagged) and
    // cannot bind it again: this process's copy holds it, and before, nothing made it hand it back.
    const path = join(dir, 'asking-agent.sock');
    const handbacks: number[][] = [];
    let asked!: PacketSocket;
    let connected!: () => void;
    const ready = new Promise<void>((resolve) => (connected = resolve));
    const asking = new PacketServer(path, { mode: 0o600, gid: -1 }, (peer) => {
      asked = new PacketSocket(peer, {
        onPacket(packet) {
          const message = parseListenerMessage(forwarderMessageSchema, packet.data);
          assert.equal(packet.fds.length, message.ports.length, 'one descriptor per port');
          for (const fd of packet.fds) closeFd(fd);
          handbacks.push(message.ports);
          asked.send(Buffer.from(JSON.stringify({ v: LISTENER_PROTOCOL_VERSION, type: 'handback_result', id: message.id, held: message.ports, refused: [] })), []);
        },
        onClose: () => undefined,
      });
    }, () => undefined);
    const inventory = new Map([[20_001, held[0]!], [20_002, held[1]!], [20_003, held[2]!]]);
    let runs = 0;
    const listeners = new AgentListeners({ path, inventory: () => inventory, handbackRefused: () => undefined, onConnected: () => (runs++, connected()) }, createLogger('test', 'error'));
    try {
      listeners.start();
      await ready;
      assert.deepEqual(handbacks, [[20_001, 20_002, 20_003]], 'everything at the connect');
      asked.send(Buffer.from(JSON.stringify({ v: LISTENER_PROTOCOL_VERSION, type: 'handback_wanted', ports: [20_002, 20_009] })), []);
      await waitUntil(() => runs === 2);
      assert.deepEqual(handbacks.at(-1), [20_002], 'the port asked for that it holds, not one it does not');
      asked.send(Buffer.from(JSON.stringify({ v: LISTENER_PROTOCOL_VERSION, type: 'handback_wanted', ports: [20_009] })), []);
      await wallClock(200);
      assert.equal(handbacks.length, 2, 'nothing sent for ports it does not hold');
      assert.equal(runs, 2, 'and no run for them');
      assert.ok(listeners.connected, 'the session goes on');
    } finally {
      listeners.stop();
      asking.close();
    }
  });

  it('connects within 20 ms of the agent serving its socket (the forwarder is often ready first at boot)', async () => {
    const path = join(dir, 'late-agent.sock');
    let connected = false;
    mock.timers.enable({ apis: ['setTimeout'] });
    const listeners = new AgentListeners({ path, inventory: () => new Map(), handbackRefused: () => undefined, onConnected: () => (connected = true) }, createLogger('test', 'error'));
    let late: PacketServer | undefined;
    try {
      listeners.start();
      mock.timers.tick(20);
      await wallClock(20);
      assert.equal(connected, false, 'no agent yet');
      late = new PacketServer(path, { mode: 0o600, gid: -1 }, (peer) => closeFd(peer.fd), () => undefined);
      mock.timers.tick(20);
      await wallClock(50);
      assert.equal(connected, true, 'connected on the next attempt, 20 ms after the last one');
    } finally {
      mock.timers.reset();
      listeners.stop();
      late?.close();
    }
  });
});

describe('AgentListeners against an agent that drops every session unanswered', () => {
  it('backs off instead of reconnecting every 20 ms (an agent of another protocol version, a wrong uid)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgw-agent-drops-'));
    let sessions = 0;
    const dropping = new PacketServer(join(dir, 'drops.sock'), { mode: 0o600, gid: -1 }, (peer) => (sessions++, closeFd(peer.fd)), () => undefined);
    const listeners = new AgentListeners({ path: dropping.path, inventory: () => new Map(), handbackRefused: () => undefined, onConnected: () => undefined }, createLogger('test', 'error'));
    try {
      listeners.start();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // Before: 49 sessions in 1 s, each with a warning and a full reconcile, for as long as it lasted.
      assert.ok(sessions <= 12, `${sessions} sessions in 1 s`);
      assert.ok(sessions >= 2, 'it does reconnect');
    } finally {
      listeners.stop();
      dropping.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves after `ms` of real time without a timer (setTimeout is mocked in the test). */
async function wallClock(ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) await new Promise((resolve) => setImmediate(resolve));
}

async function waitUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await wallClock(20);
  assert.ok(done(), 'within 2 s');
}
