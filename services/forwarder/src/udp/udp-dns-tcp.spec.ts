import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseIpv4, parsePort } from '@pgw/domain';
import { DnsMessageReader, frameDnsMessage } from '../dns/dns-framing.js';
import { dnsQuery, dnsTxtAnswer } from '../dns/dns-test-messages.js';
import type { MappingRoute } from '../routes/routes.js';
import { DnsOverTcp, type DnsOverTcpDeps } from './udp-dns-tcp.js';
import type { Endpoint } from './udp-flow.js';
import type { UdpDropReason } from './udp-limits.js';

const route: MappingRoute = {
  mappingId: 1,
  clientIp: parseIpv4('192.168.2.10'),
  listenPort: parsePort(20001),
  proxyId: 7,
  proxy: { protocol: 'http', host: '198.51.100.10', port: parsePort(3128) },
  handshake: 'sequential',
  blocked: null,
  privateDestinations: null,
};
const client = { ip: '192.168.2.10', port: 40000 };
const resolver = { ip: '203.0.113.53', port: 53 };

/** What the resolver behind the "tunnel" does with each framed query it reads. */
type Behaviour = 'answer' | 'big' | 'wrong_id' | 'silent' | 'close';

/** A loopback DNS-over-TCP server stands in for tunnel + resolver: the dial connects to it and tells it how to behave. */
class Harness {
  readonly sent: Buffer[] = [];
  readonly drops: [UdpDropReason, string | undefined][] = [];
  readonly dials: Endpoint[] = [];
  readonly replySockets: Endpoint[][] = [];
  readonly answered: boolean[] = [];
  closedChannels = 0;
  onQuery: ((data: Buffer) => void) | null = null;
  /** What the relay decides for a datagram now (its route and the DNS target in force): a later query on a reply socket is decided with these. */
  currentRoute: MappingRoute = route;
  currentTarget: Endpoint | null = null;
  behaviour: Behaviour = 'answer';
  replyRefusal: string | null = null;
  /** The agent's answer for a reply socket comes this late (it answers up to 128 asks in turn). */
  replyDelayMs = 0;
  sendThrows = false;
  readonly relay: DnsOverTcp;

  constructor(
    port: number,
    limits = { dnsQueriesPerClient: 4, dnsQueriesTotal: 8, dnsTimeoutMs: 300 },
    refuse: (ip: string) => 'destination_lan' | null = () => null,
  ) {
    const deps: DnsOverTcpDeps = {
      dial: async (_route, target) => {
        this.dials.push(target);
        const socket = connect(port, '127.0.0.1');
        await once(socket, 'connect');
        socket.write(this.behaviour); // the first line tells the server what to do
        socket.write('\n');
        return socket;
      },
      replySocket: async (c, d) => {
        this.replySockets.push([c, d]);
        if (this.replyDelayMs > 0) await new Promise((r) => setTimeout(r, this.replyDelayMs));
        return this.replyRefusal === null ? { fd: 99 } : { reason: this.replyRefusal };
      },
      replyChannel: (_fd, onQuery) => {
        this.onQuery = onQuery;
        return {
          send: (data) => {
            if (this.sendThrows) throw Object.assign(new Error('send: message too long'), { code: 'EMSGSIZE' });
            return (this.sent.push(data), true);
          },
          close: () => void this.closedChannels++,
        };
      },
      fromReplySocket: (c, d, data) => this.relay.query(this.currentRoute, c, d, this.currentTarget ?? d, data),
      dropped: (_route, reason, detail) => void this.drops.push([reason, detail]),
      answered: (_route, _q, _a, truncated) => void this.answered.push(truncated),
    };
    this.relay = new DnsOverTcp(limits, { refusal: (ip) => refuse(ip) }, deps);
  }

  /** Until nothing is in flight (bounded). */
  async settled(): Promise<void> {
    for (let i = 0; i < 200 && this.relay.queries > 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 20));
  }
}

let server: Server;
let port = 0;
const queriesSeen: Buffer[] = [];

before(async () => {
  server = createServer((socket: Socket) => {
    let behaviour: Behaviour | null = null;
    let pending = Buffer.alloc(0);
    const reader = new DnsMessageReader();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      let data = chunk;
      if (behaviour === null) {
        pending = Buffer.concat([pending, chunk]);
        const nl = pending.indexOf('\n');
        if (nl < 0) return;
        behaviour = pending.subarray(0, nl).toString() as Behaviour;
        data = pending.subarray(nl + 1);
      }
      const query = reader.push(data);
      if (query === null) return;
      queriesSeen.push(query);
      if (behaviour === 'silent') return;
      if (behaviour === 'close') return void socket.end();
      const answer = dnsTxtAnswer(query, behaviour === 'big' ? 'x'.repeat(700) : '198.51.100.10');
      if (behaviour === 'wrong_id') answer.writeUInt16BE((answer.readUInt16BE(0) + 1) & 0xffff, 0);
      // In two writes: the reader must join them.
      const framed = frameDnsMessage(answer);
      socket.write(framed.subarray(0, 5));
      setTimeout(() => socket.write(framed.subarray(5)), 5);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

after(() => server.close());

describe('DnsOverTcp: UDP DNS answered through a TCP tunnel of the client’s proxy', () => {
  it('the query goes framed to the resolver asked; the answer comes back through the reply socket for that resolver, which closes after', async () => {
    const h = new Harness(port);
    const query = dnsQuery(0x2222);
    queriesSeen.length = 0;
    h.relay.query(route, client, resolver, resolver, query);
    await h.settled();
    assert.deepEqual(queriesSeen, [query]);
    assert.deepEqual(h.dials, [resolver]);
    assert.deepEqual(h.replySockets, [[client, resolver]]);
    assert.equal(h.sent.length, 1);
    assert.equal(h.sent[0]!.readUInt16BE(0), 0x2222);
    assert.match(h.sent[0]!.toString('latin1'), /198\.51\.100\.10/);
    assert.deepEqual(h.answered, [false]);
    assert.deepEqual(h.drops, []);
    assert.equal(h.closedChannels, 1);
    assert.equal(h.relay.queries, 0);
  });

  it('to the configured upstream: the tunnel goes there, the answer still leaves from the address asked', async () => {
    const h = new Harness(port);
    const asked = { ip: '203.0.113.99', port: 53 };
    h.relay.query(route, client, asked, resolver, dnsQuery(5));
    await h.settled();
    assert.deepEqual(h.dials, [resolver]);
    assert.deepEqual(h.replySockets, [[client, asked]]);
    assert.equal(h.sent.length, 1);
  });

  it('an answer larger than the client takes over UDP: TC=1 and no records, so it retries over TCP', async () => {
    const h = new Harness(port);
    h.behaviour = 'big';
    h.relay.query(route, client, resolver, resolver, dnsQuery(6));
    await h.settled();
    assert.equal(h.sent.length, 1);
    assert.ok(h.sent[0]!.length <= 512);
    assert.equal(h.sent[0]![2]! & 0x02, 0x02);
    assert.deepEqual(h.answered, [true]);
  });

  it('a reply socket whose send throws: the answer is dropped with its reason, and the forwarder goes on', async () => {
    const h = new Harness(port);
    h.sendThrows = true;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      h.relay.query(route, client, resolver, resolver, dnsQuery(9));
      await h.settled();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    assert.deepEqual(h.drops.map(([reason]) => reason), ['dns_tunnel_failed']);
    assert.equal(h.relay.queries, 0);
  });

  it('an EDNS client that takes 1232 bytes gets the 700-byte answer whole', async () => {
    const h = new Harness(port);
    h.behaviour = 'big';
    h.relay.query(route, client, resolver, resolver, dnsQuery(6, 'whoami.pgw.test', 1232));
    await h.settled();
    assert.ok(h.sent[0]!.length > 700);
    assert.deepEqual(h.answered, [false]);
  });

  it('refused before any dial: not a query, a destination the guard refuses, a blocked client', async () => {
    const h = new Harness(port, undefined, (ip) => (ip.startsWith('192.168.') ? 'destination_lan' : null));
    h.relay.query(route, client, resolver, resolver, Buffer.from('not dns at all, really'));
    h.relay.query(route, client, { ip: '192.168.2.1', port: 53 }, { ip: '192.168.2.1', port: 53 }, dnsQuery(1));
    h.relay.query({ ...route, blocked: 'proxy_down' }, client, resolver, resolver, dnsQuery(1));
    await h.settled();
    assert.deepEqual(h.dials, []);
    assert.deepEqual(h.replySockets, []);
    assert.deepEqual(
      h.drops.map(([reason]) => reason),
      ['dns_invalid', 'destination_lan', 'blocked'],
    );
  });

  it('bounded per client and in all: queries over the limit are dropped, counted, and the count returns to zero', async () => {
    const h = new Harness(port, { dnsQueriesPerClient: 2, dnsQueriesTotal: 3, dnsTimeoutMs: 200 });
    h.behaviour = 'silent';
    for (let i = 0; i < 3; i++) h.relay.query(route, { ip: client.ip, port: 41000 + i }, resolver, resolver, dnsQuery(i));
    h.relay.query(route, { ip: '192.168.2.11', port: 41000 }, resolver, resolver, dnsQuery(9));
    h.relay.query(route, { ip: '192.168.2.12', port: 41000 }, resolver, resolver, dnsQuery(9));
    assert.equal(h.relay.queries, 3);
    await h.settled();
    assert.deepEqual(
      h.drops.map(([reason]) => reason).sort(),
      ['dns_limit_client', 'dns_limit_total', 'dns_timeout', 'dns_timeout', 'dns_timeout'],
    );
    assert.equal(h.relay.queries, 0);
    assert.equal(h.closedChannels, 3, 'every reply socket closed');
  });

  it('an answer with another id, and a tunnel closed without an answer, are dropped with their reason', async () => {
    const h = new Harness(port);
    h.behaviour = 'wrong_id';
    h.relay.query(route, client, resolver, resolver, dnsQuery(10));
    await h.settled();
    h.behaviour = 'close';
    h.relay.query(route, client, resolver, resolver, dnsQuery(11));
    await h.settled();
    assert.deepEqual(h.sent, []);
    assert.deepEqual(
      h.drops.map(([reason]) => reason),
      ['dns_bad_answer', 'dns_tunnel_failed'],
    );
  });

  it('a reply socket the agent refuses: the answer is dropped, never sent another way', async () => {
    const h = new Harness(port);
    h.replyRefusal = 'the gateway is not in TPROXY mode';
    const seen = queriesSeen.length;
    h.relay.query(route, client, resolver, resolver, dnsQuery(12));
    await h.settled();
    assert.deepEqual(h.sent, []);
    assert.deepEqual(h.drops, [['reply_socket_refused', 'the gateway is not in TPROXY mode']]);
    // Ended once refused, its tunnel aborted: the query was asked through the proxy, and answered, for nothing.
    assert.equal(queriesSeen.length, seen, 'the query reached the resolver');
  });

  it('a reply socket the agent refuses after the tunnel is up: the query never leaves through it (the agent judges before anything is sent)', async () => {
    const h = new Harness(port);
    h.replyRefusal = 'client 192.168.2.10 is blocked (proxy_down)';
    h.replyDelayMs = 100;
    const seen = queriesSeen.length;
    h.relay.query(route, client, resolver, resolver, dnsQuery(13));
    await h.settled();
    assert.equal(h.dials.length, 1, 'the tunnel was dialed while the agent was asked');
    assert.deepEqual(h.drops, [['reply_socket_refused', 'client 192.168.2.10 is blocked (proxy_down)']]);
    assert.equal(queriesSeen.length, seen, 'the query reached the resolver before the agent had answered');
  });

  it('a retry that lands on the open reply socket is asked too, through the same socket', async () => {
    const h = new Harness(port, { dnsQueriesPerClient: 4, dnsQueriesTotal: 8, dnsTimeoutMs: 400 });
    h.behaviour = 'silent';
    h.relay.query(route, client, resolver, resolver, dnsQuery(13));
    for (let i = 0; i < 50 && h.onQuery === null; i++) await new Promise((r) => setTimeout(r, 5));
    h.behaviour = 'answer';
    h.onQuery!(dnsQuery(14));
    await h.settled();
    assert.deepEqual(h.replySockets.length, 1, 'one reply socket for the client port and resolver');
    assert.deepEqual(h.sent.map((a) => a.readUInt16BE(0)), [14]);
    assert.deepEqual(h.drops.map(([reason]) => reason), ['dns_timeout']);
    assert.equal(h.closedChannels, 1);
  });

  it('a later query on an open reply socket goes where the settings in force say, judged by the client’s route in force', async () => {
    const h = new Harness(port, { dnsQueriesPerClient: 4, dnsQueriesTotal: 8, dnsTimeoutMs: 400 }, (ip) => (ip === '10.0.0.53' ? 'destination_lan' : null));
    h.behaviour = 'silent';
    h.relay.query(route, client, resolver, resolver, dnsQuery(16));
    for (let i = 0; i < 50 && h.onQuery === null; i++) await new Promise((r) => setTimeout(r, 5));
    // dnsUpstream changed meanwhile: the retry on the open socket is asked of the new upstream.
    const upstream = { ip: '203.0.113.54', port: 53 };
    h.currentTarget = upstream;
    h.behaviour = 'answer';
    h.onQuery!(dnsQuery(17));
    // Then to a private address the guard refuses: dropped, not dialed.
    h.currentTarget = { ip: '10.0.0.53', port: 53 };
    h.onQuery!(dnsQuery(18));
    await h.settled();
    assert.deepEqual(h.dials, [resolver, upstream]);
    assert.deepEqual(h.drops.map(([reason]) => reason).sort(), ['destination_lan', 'dns_timeout']);
  });

  it('a route change ends the client’s queries in flight', async () => {
    const h = new Harness(port, { dnsQueriesPerClient: 4, dnsQueriesTotal: 8, dnsTimeoutMs: 2_000 });
    h.behaviour = 'silent';
    h.relay.query(route, client, resolver, resolver, dnsQuery(15));
    await new Promise((r) => setTimeout(r, 30));
    h.relay.retain(new Map([[client.ip, { ...route, proxyId: 8 }]]));
    assert.equal(h.relay.queries, 0);
    assert.deepEqual(h.drops.map(([reason]) => reason), ['blocked']);
  });
});
