// One client flow of TPROXY mode's UDP relay (services/forwarder/src/udp/udp-flow.ts) against what
// happens to real sockets: reply sockets made as the agent makes them (IP_TRANSPARENT, bound to the
// destination, connected to the client; loopback only), and a real SOCKS5 UDP association through
// a scripted proxy for what the association itself refuses. The flow's association is a recording
// stand-in where the test needs to say what the proxy side did.
import assert from 'node:assert/strict';
import { fstatSync, openSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { type DialSignal, Socks5UdpAssociation, type UdpAssociationHandlers, type UdpSendOutcome } from '@pgw/dialers';
import type { ProxyEndpoint } from '@pgw/domain';
import { describeSocket, transparentUdpSocket } from '@pgw/original-dst';
import { AGENT_SOCKET_MARK } from '../../services/agent/src/listeners/agent-socket-mark.js';
import type { UdpSocketGrant } from '../../services/forwarder/src/udp/udp-agent-sockets.js';
import { type Endpoint, UdpFlow } from '../../services/forwarder/src/udp/udp-flow.js';
import { DEFAULT_UDP_LIMITS } from '../../services/forwarder/src/udp/udp-limits.js';
import { startScriptedSocks5 } from '../support/scripted-socks5.js';
import { udpListener } from '../support/udp-listener.js';

const settle = (ms = 50) => new Promise((resolve) => setTimeout(resolve, ms));


/** A free loopback UDP port (bound, then closed: nothing listens there afterwards). */
async function deadPort(): Promise<number> {
  const probe = await udpListener('127.0.0.1');
  const { port } = probe;
  await new Promise<void>((resolve) => probe.socket.close(() => resolve()));
  return port;
}

/** A flow over a stand-in association that returns `outcome` for every send, and reply sockets from `grants`. */
function flowWith(
  client: Endpoint,
  grants: (() => UdpSocketGrant | Promise<UdpSocketGrant>)[],
  outcome: () => UdpSendOutcome = () => 'sent',
  { opened = Promise.resolve(), queueBudget = Infinity, refusalHoldMs = DEFAULT_UDP_LIMITS.refusalHoldMs }: { opened?: Promise<void>; queueBudget?: number; refusalHoldMs?: number } = {},
) {
  const record = { dropped: [] as string[], relayed: [] as [string, number][], released: 0, asked: 0, sent: 0, queuedBytes: 0, openSignal: null as DialSignal | null };
  let handlers: UdpAssociationHandlers | null = null;
  const association = { send: () => (record.sent++, outcome()), close: () => undefined, relay: { address: '127.0.0.1', port: 9 }, relayIsProxy: true } as unknown as Socks5UdpAssociation;
  const flow = new UdpFlow('k', client, { proxyId: 1, proxy: null }, { ...DEFAULT_UDP_LIMITS, refusalHoldMs }, {
    associate: async (h, signal) => ((handlers = h), (record.openSignal = signal), await opened, association),
    replySocket: async () => (record.asked++, grants.shift()!()),
    reserveDestination: () => null,
    releaseDestinations: (n) => void (record.released += n),
    reserveQueued: (bytes) => (record.queuedBytes + bytes > queueBudget ? false : ((record.queuedBytes += bytes), true)),
    releaseQueued: (bytes) => void (record.queuedBytes -= bytes),
    fromReplySocket: () => undefined,
    dropped: (reason) => void record.dropped.push(reason),
    relayed: (direction, bytes) => void record.relayed.push([direction, bytes]),
    closed: () => undefined,
  });
  const answer = (from: Endpoint, data: Buffer) => handlers!.onMessage(data, { address: from.ip, port: from.port });
  return { flow, record, answer };
}

describe('a UDP flow of TPROXY mode against real sockets', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  it('answers the kernel refuses to deliver (a client over quota, blocked or gone) do not keep the flow alive; delivered ones do', async () => {
    const client: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const destination: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: client.ip, port: client.port } });
    const { flow, record, answer } = flowWith(client, [() => ({ fd })]);
    cleanups.push(() => flow.close());
    flow.send(destination, Buffer.from('query'));
    await settle();
    flow.lastActive = 0;
    // Every send of these fails in the kernel (EMSGSIZE here; EPERM from a quota's or a block's drop rule there).
    for (let i = 0; i < 3; i++) answer(destination, Buffer.alloc(70_000));
    assert.deepEqual(record.dropped, ['reply_send_failed', 'reply_send_failed', 'reply_send_failed']);
    assert.equal(flow.lastActive, 0, 'a refused answer refreshed the flow: the idle sweep would never end it');

    const live = await udpListener('127.0.0.1');
    cleanups.push(() => live.socket.close());
    const destination2: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd2 = transparentUdpSocket(destination2.ip, destination2.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: live.port } });
    const delivered = flowWith({ ip: '127.0.0.1', port: live.port }, [() => ({ fd: fd2 })]);
    cleanups.push(() => delivered.flow.close());
    delivered.flow.send(destination2, Buffer.from('query'));
    await settle();
    delivered.flow.lastActive = 0;
    delivered.answer(destination2, Buffer.from('answer'));
    assert.ok(delivered.flow.lastActive > 0, 'a delivered answer keeps the flow');
  });

  it('answers alone keep a flow no longer than clientSilenceMs: the proxy may forge them from any destination the client addressed', async () => {
    const live = await udpListener('127.0.0.1');
    cleanups.push(() => live.socket.close());
    const destination: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: live.port } });
    const { flow, answer } = flowWith({ ip: '127.0.0.1', port: live.port }, [() => ({ fd })]);
    cleanups.push(() => flow.close());
    flow.send(destination, Buffer.from('query'));
    await settle();
    answer(destination, Buffer.from('answer'));
    const now = Date.now();
    assert.equal(flow.expired(now), false, 'a flow the client and its answers use');
    assert.equal(flow.expired(now + DEFAULT_UDP_LIMITS.idleMs + 1), true, 'idle both ways');
    // The client went quiet; answers (real, or the proxy's own, "from" a destination the client
    // addressed) keep coming and are delivered: before, each refreshed the flow, forever, and a
    // proxy held its clients' flows until the relay's global limits refused every client.
    const later = now + DEFAULT_UDP_LIMITS.clientSilenceMs - 1_000;
    (flow as unknown as { lastActive: number }).lastActive = later;
    assert.equal(flow.expired(later + 500), false, 'within the client silence allowed, answers keep it');
    assert.equal(flow.expired(now + DEFAULT_UDP_LIMITS.clientSilenceMs + 1), true, 'answers alone held the flow past clientSilenceMs');
    assert.ok(DEFAULT_UDP_LIMITS.clientSilenceMs >= 120_000, 'RFC 4787 REQ-5: a UDP mapping lasts at least 2 minutes');
  });

  it('holds at most 64 KiB of datagrams per flow while its association opens, and within the relay-wide budget; all given back once sent', async () => {
    const destination: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: await deadPort() } });
    let open!: () => void;
    const { flow, record } = flowWith({ ip: '127.0.0.1', port: 40010 }, [() => ({ fd })], undefined, { opened: new Promise((resolve) => (open = resolve)) });
    cleanups.push(() => flow.close());
    // A proxy silent to UDP ASSOCIATE: before, all 32 (2 MiB) were held for the whole connect timeout.
    for (let i = 0; i < 32; i++) flow.send(destination, Buffer.alloc(30_000));
    assert.equal(record.dropped.filter((r) => r === 'queue_full').length, 30, 'two of 30 000 bytes fit in 64 KiB');
    assert.equal(record.queuedBytes, 60_000);
    open();
    await settle();
    assert.equal(record.sent, 2);
    assert.equal(record.queuedBytes, 0, 'the relay-wide budget is given back once they are sent');

    const other: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd2 = transparentUdpSocket(other.ip, other.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: await deadPort() } });
    const shared = flowWith({ ip: '127.0.0.1', port: 40011 }, [() => ({ fd: fd2 })], undefined, { opened: new Promise(() => undefined), queueBudget: 1_000 });
    shared.flow.send(other, Buffer.alloc(600));
    shared.flow.send(other, Buffer.alloc(600));
    assert.deepEqual(shared.record.dropped, ['queue_full'], 'over the budget all flows share');
    shared.flow.close();
    assert.equal(shared.record.queuedBytes, 0, 'and given back when the flow ends unopened');
    // Ended while its association opens (a route change, a block, a proxy the policy now refuses):
    // the open is aborted, so the proxy gets no greeting, login or ASSOCIATE after that.
    assert.equal(shared.record.openSignal?.aborted, true, 'the open is aborted');
  });

  it('a send the association refuses (its queue full, or oversize) is counted as dropped, not as relayed', async () => {
    const destination: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: await deadPort() } });
    const outcomes: UdpSendOutcome[] = ['sent', 'queue_full', 'oversize'];
    const { flow, record } = flowWith({ ip: '127.0.0.1', port: 40000 }, [() => ({ fd })], () => outcomes.shift()!);
    cleanups.push(() => flow.close());
    for (let i = 0; i < 3; i++) flow.send(destination, Buffer.from(`datagram ${i}`));
    await settle();
    assert.equal(record.sent, 3);
    assert.deepEqual(record.relayed, [['up', 10]]);
    assert.deepEqual(record.dropped, ['queue_full', 'oversize']);
  });

  it('the association refuses a payload that no longer fits one datagram with its SOCKS5 header, and sends the largest that fits', async () => {
    const relay = await udpListener('127.0.0.1');
    cleanups.push(() => relay.socket.close());
    const proxy = await startScriptedSocks5('127.0.0.1', Buffer.from([1, 127, 0, 0, 1]), () => relay.port);
    cleanups.push(proxy.close);
    const endpoint = { protocol: 'socks5', host: '127.0.0.1', port: proxy.port } as ProxyEndpoint;
    const association = await Socks5UdpAssociation.open(endpoint, { timeoutMs: 2_000 }, { onMessage: () => undefined, onClose: () => undefined });
    cleanups.push(() => association.close());
    const target = { host: '203.0.113.53', port: 53 };
    // 65,507 bytes of UDP payload at most; the header for an IPv4 target is 10.
    assert.equal(association.send(target, Buffer.alloc(65_498)), 'oversize');
    assert.equal(association.send(target, Buffer.alloc(65_497)), 'sent');
    for (let i = 0; i < 50 && relay.received.length === 0; i++) await settle(20);
    assert.deepEqual(relay.received.map((d) => d.length), [65_507]);
  });

  it('a destination the policy now refuses loses its reply socket: its answers reach the client no more, its place is given back', async () => {
    const destination: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const live = await udpListener('127.0.0.1');
    cleanups.push(() => live.socket.close());
    const fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: live.port } });
    const { flow, record, answer } = flowWith({ ip: '127.0.0.1', port: live.port }, [() => ({ fd })]);
    cleanups.push(() => flow.close());
    flow.send(destination, Buffer.from('query'));
    await settle();
    answer(destination, Buffer.from('before'));
    assert.equal(flow.forgetDestinations(({ ip }) => ip === '10.0.0.1'), 0, 'an allowed destination stays');
    assert.equal(flow.forgetDestinations(({ ip }) => ip === destination.ip), 1);
    answer(destination, Buffer.from('after'));
    await settle();
    assert.deepEqual(live.received.map(String), ['before']);
    assert.deepEqual(record.relayed.filter(([d]) => d === 'down').length, 1);
    assert.equal(record.released, 1);
    assert.throws(() => describeSocket(fd), 'the reply socket is closed');
  });

  it('a destination forgotten while the agent is still answering for its reply socket: the socket that comes is closed, not kept', async () => {
    const destination: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: await deadPort() } });
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    // The agent's answer held until the destination is forgotten.
    const { flow, record } = flowWith({ ip: '127.0.0.1', port: 40003 }, [async () => (await answered, { fd })]);
    cleanups.push(() => flow.close());
    flow.send(destination, Buffer.from('query'));
    assert.equal(flow.forgetDestinations(({ ip }) => ip === destination.ip), 1);
    answer();
    await settle();
    assert.throws(() => describeSocket(fd), 'the late reply socket is closed');
    assert.equal(record.released, 1);
  });

  it('a reply socket the agent could not give for a moment (a restart, a timeout) is asked for again by the next datagram', async () => {
    const destination: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: await deadPort() } });
    const { flow, record } = flowWith({ ip: '127.0.0.1', port: 40001 }, [() => ({ reason: 'the agent did not answer within 2000 ms', transient: true }), () => ({ fd })]);
    cleanups.push(() => flow.close());
    flow.send(destination, Buffer.from('first'));
    await settle();
    assert.deepEqual(record.dropped, ['reply_socket_refused']);
    flow.send(destination, Buffer.from('second'));
    await settle();
    assert.equal(record.asked, 2, 'asked again');
    assert.deepEqual(record.relayed, [['up', 6]]);
    assert.equal(record.released, 1, 'the failed ask gave its place back');
  });

  it('a reply socket that cannot be watched (not pollable: out of watches) is closed and asked for again; the forwarder goes on', async () => {
    const unpollable = openSync('/dev/null', 'r');
    const destination: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: await deadPort() } });
    const { flow, record } = flowWith({ ip: '127.0.0.1', port: 40003 }, [() => ({ fd: unpollable }), () => ({ fd })]);
    cleanups.push(() => flow.close());
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => void rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      flow.send(destination, Buffer.from('first'));
      await settle();
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    assert.deepEqual(rejections, [], 'an unhandled rejection: the forwarder would have exited');
    assert.deepEqual(record.dropped, ['reply_socket_refused']);
    assert.throws(() => fstatSync(unpollable), 'the descriptor that could not be watched was closed');
    flow.send(destination, Buffer.from('second'));
    await settle();
    assert.equal(record.asked, 2, 'asked again');
    assert.deepEqual(record.relayed, [['up', 6]]);
  });

  it('the agent’s own refusal holds for refusalHoldMs, then the next datagram asks again (a refusal of a moment, no policy yet or EMFILE, cut a client that kept sending for good)', async () => {
    const destination: Endpoint = { ip: '127.0.0.1', port: await deadPort() };
    const fd = transparentUdpSocket(destination.ip, destination.port, { recvOrigDst: false, mark: AGENT_SOCKET_MARK, connect: { address: '127.0.0.1', port: await deadPort() } });
    const { flow, record } = flowWith({ ip: '127.0.0.1', port: 40002 }, [() => ({ reason: 'the agent has no policy in force yet' }), () => ({ fd })], undefined, { refusalHoldMs: 200 });
    cleanups.push(() => flow.close());
    flow.send(destination, Buffer.from('first'));
    await settle();
    // Within the hold: refused without asking (a client cannot make the agent answer every datagram).
    flow.send(destination, Buffer.from('second'));
    assert.equal(record.asked, 1);
    assert.deepEqual(record.dropped, ['reply_socket_refused', 'reply_socket_refused']);
    await settle(250);
    flow.send(destination, Buffer.from('third'));
    await settle();
    assert.equal(record.asked, 2, 'asked again after the hold');
    assert.deepEqual(record.relayed, [['up', 5]], 'the datagram after the hold went out');
    assert.equal(record.released, 1, 'the refused destination gave its place back before it was asked for again');
  });
});
