import type { Socket } from 'node:net';
import { DialAbort } from '@pgw/dialers';
import type { DestinationGuard } from '../routes/destination-guard.js';
import { DnsMessageReader, frameDnsMessage } from '../dns/dns-framing.js';
import { isDnsAnswerTo, parseDnsQuery } from '../dns/dns-header.js';
import { fitDnsAnswer } from '../dns/dns-truncate.js';
import { type MappingRoute, sameProxy } from '../routes/routes.js';
import type { UdpSocketGrant } from './udp-agent-sockets.js';
import type { Endpoint } from './udp-flow.js';
import { ClientTally, type UdpDropReason, type UdpLimits } from './udp-limits.js';

/** A reply socket (bound to the resolver the client asked, connected to the client) as this relay uses it. */
export interface DnsReplyChannel {
  /** Sends one answer to the client; false: not sent. */
  send(data: Buffer): boolean;
  close(): void;
}

export interface DnsOverTcpDeps {
  /** A TCP connection through the client's proxy to `target` (the dialers, checkProxyAddress and the handshake of the route). */
  dial(route: MappingRoute, target: Endpoint, signal: DialAbort): Promise<Socket>;
  /** A reply socket for `destination` from the agent. */
  replySocket(client: Endpoint, destination: Endpoint): Promise<UdpSocketGrant>;
  /** Wraps a granted reply socket; `onQuery` gets the client's later datagrams to the same resolver (they land on it, not the tproxy socket). */
  replyChannel(fd: number, onQuery: (data: Buffer) => void): DnsReplyChannel;
  /**
   * A datagram of the client that came in on a path's reply socket (a retry to the same resolver):
   * decided like one from the tproxy socket, with the route and settings in force now.
   */
  fromReplySocket(client: Endpoint, destination: Endpoint, data: Buffer): void;
  dropped(route: MappingRoute, reason: UdpDropReason, detail?: string): void;
  answered(route: MappingRoute, query: number, answer: number, truncated: boolean): void;
}

type DnsTcpLimits = Pick<UdpLimits, 'dnsQueriesPerClient' | 'dnsQueriesTotal' | 'dnsTimeoutMs'>;

/** One client port and the resolver it asked: the reply socket its answers leave from, shared by its queries in flight. */
interface ReplyPath {
  readonly key: string;
  readonly route: MappingRoute;
  readonly client: Endpoint;
  readonly destination: Endpoint;
  /** The channel once the agent granted the socket, or why not. */
  readonly ready: Promise<DnsReplyChannel | string>;
  channel: DnsReplyChannel | null;
  readonly queries: Set<QueryInFlight>;
  closed: boolean;
}

/** A query in flight: the route and target it was sent with, and how to end it (by default: its route changed). */
interface QueryInFlight {
  readonly route: MappingRoute;
  readonly target: Endpoint;
  cancel(reason?: UdpDropReason, detail?: string): void;
}

/** Why the policy in force now refuses a query's proxy or target; null: it may go on. */
export type QueryRefusal = (route: MappingRoute, target: Endpoint) => { readonly reason: UdpDropReason; readonly detail: string } | null;

/**
 * DNS over TCP through the tunnel (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY mode"): a
 * client's UDP query to port 53 whose proxy carries no UDP (HTTP CONNECT, a SOCKS5 server that
 * refused ASSOCIATE) is sent as DNS over TCP (RFC 7766 framing) through a TCP connection of the
 * client's own proxy, one query per connection, to the resolver it asked (or the configured
 * upstream); the answer reaches the client from the address it asked, through the agent's reply
 * socket, and truncated with TC=1 when larger than the client takes over UDP, so it retries over
 * TCP (which the TCP relay carries through the same proxy). Nothing leaves but through the proxy.
 */
export class DnsOverTcp {
  private readonly inFlight: ClientTally;
  private readonly paths = new Map<string, ReplyPath>();

  constructor(
    private readonly limits: DnsTcpLimits,
    private readonly destinations: Pick<DestinationGuard, 'refusal'>,
    private readonly deps: DnsOverTcpDeps,
  ) {
    this.inFlight = new ClientTally(limits.dnsQueriesPerClient, limits.dnsQueriesTotal);
  }

  /** Queries in flight. */
  get queries(): number {
    return this.inFlight.count;
  }

  /** A client's datagram to `destination` (port 53), to be asked of `target` through the route's proxy. */
  query(route: MappingRoute, client: Endpoint, destination: Endpoint, target: Endpoint, data: Buffer): void {
    if (route.blocked !== null || route.proxy === null) return this.deps.dropped(route, 'blocked', route.blocked ?? 'no proxy');
    // Checked before anything is dialed: only a standard query goes into a tunnel.
    const parsed = parseDnsQuery(data);
    if ('problem' in parsed) return this.deps.dropped(route, 'dns_invalid', parsed.problem);
    const refused = this.destinations.refusal(target.ip, route.privateDestinations);
    if (refused !== null) return this.deps.dropped(route, refused, `destination ${target.ip}`);
    const over = this.inFlight.over(client.ip);
    if (over !== null) return this.deps.dropped(route, over === 'total' ? 'dns_limit_total' : 'dns_limit_client');
    this.inFlight.add(client.ip);
    const key = `${client.ip}:${client.port}>${destination.ip}:${destination.port}`;
    const path = this.paths.get(key) ?? this.openPath(key, route, client, destination);
    this.ask(path, route, target, data, parsed.id, parsed.udpAnswerMax);
  }

  /** Routes changed: the queries of a client that is gone, blocked, or on another proxy or endpoint end now. */
  retain(byIp: ReadonlyMap<string, MappingRoute>): void {
    for (const path of [...this.paths.values()]) {
      const route = byIp.get(path.client.ip);
      if (route === undefined || route.blocked !== null || !sameProxy(route, path.route)) for (const query of [...path.queries]) query.cancel();
    }
  }

  /**
   * The policy tightened (the LAN prefix over a proxy, an address the gateway took, private ranges
   * denied): a query through a proxy, or to a resolver, it now refuses ends now, as a TCP relay
   * there is reset, not at its answer or its timeout.
   */
  enforce(refusal: QueryRefusal): void {
    for (const path of [...this.paths.values()]) {
      for (const query of [...path.queries]) {
        const refused = refusal(query.route, query.target);
        if (refused !== null) query.cancel(refused.reason, refused.detail);
      }
    }
  }

  stop(): void {
    for (const path of [...this.paths.values()]) for (const query of [...path.queries]) query.cancel();
  }

  private openPath(key: string, route: MappingRoute, client: Endpoint, destination: Endpoint): ReplyPath {
    const ready = this.deps.replySocket(client, destination).then((grant): DnsReplyChannel | string => {
      if ('reason' in grant) return grant.reason;
      let channel: DnsReplyChannel;
      try {
        // The client's retries from the same port to the same resolver land on this socket while it is open.
        channel = this.deps.replyChannel(grant.fd, (data) => this.deps.fromReplySocket(client, destination, data));
      } catch (error) {
        // Not watchable (out of memory or watches); replyChannel gave the descriptor back.
        return `the reply socket cannot be read: ${(error as Error).message}`;
      }
      if (path.closed) {
        channel.close();
        return 'closed';
      }
      path.channel = channel;
      return channel;
    });
    const path: ReplyPath = { key, route, client, destination, ready, channel: null, queries: new Set(), closed: false };
    this.paths.set(key, path);
    return path;
  }

  /** One query on `path`, through `route`'s proxy to `target`: those in force when it came, not when the path opened. */
  private ask(path: ReplyPath, route: MappingRoute, target: Endpoint, query: Buffer, id: number, udpAnswerMax: number): void {
    const { client } = path;
    const abort = new DialAbort();
    let tunnel: Socket | null = null;
    let done = false;
    let answered = false;
    const finish = (reason: UdpDropReason | null, detail?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      abort.abort();
      tunnel?.destroy();
      path.queries.delete(inFlight);
      this.inFlight.remove(client.ip, 1);
      if (reason !== null) this.deps.dropped(route, reason, detail);
      if (path.queries.size === 0) this.closePath(path);
    };
    const inFlight: QueryInFlight = { route, target, cancel: (reason = 'blocked', detail = 'the client’s route changed') => finish(reason, detail) };
    path.queries.add(inFlight);
    // A reply socket the agent refuses (a LAN resolver, not TPROXY mode): the answer could never
    // reach the client, so the query ends then, its tunnel aborted, not asked and answered for nothing.
    path.ready.then(
      (channel) => {
        if (typeof channel === 'string') finish('reply_socket_refused', channel);
      },
      () => undefined,
    );
    const timer = setTimeout(() => finish('dns_timeout', `no answer within ${this.limits.dnsTimeoutMs} ms`), this.limits.dnsTimeoutMs);
    const reader = new DnsMessageReader();
    this.deps.dial(route, target, abort).then(
      (socket) => {
        if (done) return void socket.destroy();
        tunnel = socket;
        socket.on('data', (chunk: Buffer) => {
          const answer = reader.push(chunk);
          if (answer === null || answered) return;
          answered = true;
          // A reset, not a FIN: closing first would leave a TIME_WAIT towards the proxy per query,
          // and a client asking fast could use up the ports every relay to that proxy needs.
          socket.resetAndDestroy();
          if (!isDnsAnswerTo(answer, id)) return finish('dns_bad_answer', `not an answer to query ${id}`);
          const fitted = fitDnsAnswer(answer, udpAnswerMax);
          path.ready
            .then((channel) => {
              if (done) return;
              if (typeof channel === 'string') return finish('reply_socket_refused', channel);
              if (!channel.send(fitted)) return finish('dns_tunnel_failed', 'the answer could not be sent to the client');
              this.deps.answered(route, query.length, fitted.length, fitted !== answer);
              finish(null);
            })
            // A send that throws (the reply socket's errors other than a full buffer) ends this
            // query only: an unhandled rejection would end the whole forwarder.
            .catch((error: Error) => finish('dns_tunnel_failed', `the answer could not be sent to the client: ${error.message}`));
        });
        socket.on('error', (error: Error) => finish('dns_tunnel_failed', error.message));
        socket.on('close', () => {
          if (!answered) finish('dns_tunnel_failed', 'the tunnel closed before the answer');
        });
        // Sent once the agent gave the reply socket: its refusal (a client blocked since, a LAN
        // resolver) must keep the query from leaving, as a flow's datagram waits for its socket.
        path.ready.then(
          (channel) => {
            if (!done && typeof channel !== 'string') socket.write(frameDnsMessage(query));
          },
          () => undefined,
        );
      },
      (error: Error) => finish('dns_tunnel_failed', error.message),
    );
  }

  private closePath(path: ReplyPath): void {
    if (path.closed) return;
    path.closed = true;
    if (this.paths.get(path.key) === path) this.paths.delete(path.key);
    path.channel?.close();
    path.channel = null;
  }
}
