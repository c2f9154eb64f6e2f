import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DialAbort, type Dialer, dialerFor, literalHostProblem, type WarmPool } from '@pgw/dialers';
import type { ProxyHostRefusal } from '@pgw/domain';
import { acceptTcp, closeFd, resetFd, type TcpAcceptor } from '@pgw/original-dst';
import type { ConnectionLimits } from './connection-limits.js';
import { MappingSlots } from './connection-limits.js';
import type { DestinationGuard } from '../routes/destination-guard.js';
import type { DnsUpstreamSetting } from '../dns/dns-upstream-setting.js';
import type { ForwarderStats, RefusalReason } from './forwarder-stats.js';
import { type DialMode, dialUpstream, isNativeUpstream, type NativeUpstream, type NativeWarm } from './native-dial.js';
import { Relay, type RelayMode, type RelayOwner, type RelaySocket } from './relay.js';
import type { MappingRoute } from '../routes/routes.js';
import type { WarmPools } from './warm-pools.js';

/** What every mapping listener shares with the forwarder. */
export interface ListenerContext {
  readonly limits: ConnectionLimits;
  readonly stats: ForwarderStats;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly relayMode: RelayMode;
  /** native: the upstream dial and handshake in the addon (PGW_FORWARDER_DIAL, where the relay is spliced: boot.ts decides). */
  readonly dialMode: DialMode;
  /** TCP Fast Open on the native dial's new connections (PGW_FORWARDER_TCP_FASTOPEN). */
  readonly fastOpen: boolean;
  readonly destinations: Pick<DestinationGuard, 'refusal' | 'checkProxyAddress'>;
  /** dnsMode proxy with dnsUpstream: TCP/53 goes to that resolver (issue 15); absent: where the client was going. */
  readonly dns?: Pick<DnsUpstreamSetting, 'target'>;
  /** Warm connections per proxy (PGW_FORWARDER_WARM_POOL); null: every connection dials. Of descriptors for the native dial. */
  readonly warmPools: WarmPools<Socket> | WarmPools<NativeWarm> | null;
  /** The upstream connect latency histogram's child for one proxy (looked up once per route). */
  connectObserver(proxyId: number): (seconds: number) => void;
  dialSucceeded(proxyId: number): void;
  dialFailed(route: MappingRoute, error: unknown): void;
  acceptFailed(route: MappingRoute, error: Error): void;
}

const LISTENER = Symbol('pgw.forwarder.listener');

/** The address the agent binds every mapping's listening socket to (as an IPv4 peer of a dual-stack socket too). */
const LOOPBACK = '127.0.0.1';
const MAPPED_LOOPBACK = '::ffff:127.0.0.1';

/** listen() sets the shared socket's backlog again: the same as the agent's (listener-server.ts). */
const LISTEN_BACKLOG = 1024;

interface ListenerAcceptor extends TcpAcceptor {
  [LISTENER]?: MappingListener;
}

/** One mapping's port: accepts only its client, and relays through the mapping's proxy. */
export class MappingListener implements RelayOwner {
  readonly slots = new MappingSlots();
  /**
   * Accepts without a net.Server: each client is a bare descriptor (TCP_NODELAY, keepalive 60 s,
   * its original destination read at accept) until its relay starts; nothing is read from it
   * before its upstream exists, its bytes wait in the kernel's buffer.
   */
  private acceptor: ListenerAcceptor | null = null;
  private route!: MappingRoute;
  private mappedClientIp = '';
  private dialer: Dialer | null = null;
  private observeConnect: (seconds: number) => void = () => undefined;
  /** Aborts this mapping's dials in flight when its connections must go. */
  private abort = new DialAbort();
  private head: Relay | null = null;

  constructor(
    route: MappingRoute,
    private readonly ctx: ListenerContext,
  ) {
    this.setRoute(route);
  }

  get currentRoute(): MappingRoute {
    return this.route;
  }

  get activeConnections(): number {
    return this.slots.active;
  }

  /** This listener's descriptor of the port's listening socket; null once closed. */
  get fd(): number | null {
    return this.acceptor?.fd ?? null;
  }

  /**
   * Serves a listening socket the agent created (its descriptor is ours from now on). Closing
   * this server closes only our duplicate: the agent's keeps the port and its queued connections.
   */
  listen(fd: number): Promise<void> {
    if (this.acceptor !== null) return Promise.reject(new Error(`mapping ${this.route.mappingId}: already listening`));
    try {
      // Failed accepts (EMFILE and the like) are counted; accepting goes on after a pause.
      this.acceptor = acceptTcp(fd, LISTEN_BACKLOG, onAccepted, onAcceptFailed);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    this.acceptor[LISTENER] = this;
    return Promise.resolve();
  }

  /**
   * Same port, new route. New connections use it; live ones are closed when asked, and otherwise
   * judged again when the mapping's own private-destination choice changed.
   */
  update(route: MappingRoute, closeConnections: boolean): void {
    const privateBefore = this.route.privateDestinations;
    this.setRoute(route);
    if (closeConnections) this.closeConnections();
    else if (route.privateDestinations !== privateBefore) this.enforceDestinations();
  }

  /**
   * Resets the live connections that the policy now refuses: where they go (a private range
   * denied, an address the gateway took since), or the proxy they go through (its address now in
   * the LAN prefix or one of the gateway's own). The policy holds for connections made before it
   * changed, not only for new ones. Returns how many were reset.
   */
  enforceDestinations(): number {
    const proxyRefusal = this.proxyRefusal();
    let reset = 0;
    for (let relay = this.head, next: Relay | null; relay !== null; relay = next) {
      next = relay.next;
      // A dial in flight may still read the client's descriptor: judged once attached (dialed()).
      if (relay.dialing) relay.judgeAgain = true;
      else if (this.refuseLive(relay, proxyRefusal)) reset++;
    }
    return reset;
  }

  /** Resets a relay that the policy in force refuses (its proxy, else its destination); true if it did. */
  private refuseLive(relay: Relay, proxyRefusal = this.proxyRefusal()): boolean {
    const refusal = proxyRefusal ?? this.ctx.destinations.refusal(relay.destination, this.route.privateDestinations);
    if (refusal === null) return false;
    this.ctx.stats.refused(refusal);
    relay.reset();
    return true;
  }

  /**
   * Why the policy in force refuses this mapping's proxy, for a literal host; null otherwise. A
   * name was judged for the addresses it resolved to when each connection was dialed; those are
   * not kept, so its live connections are not judged again here.
   */
  private proxyRefusal(): ProxyHostRefusal | null {
    const host = this.route.proxy?.host;
    return host === undefined ? null : (literalHostProblem(host, this.ctx.destinations.checkProxyAddress)?.reason ?? null);
  }

  stopAccepting(): void {
    this.acceptor?.close();
    this.acceptor = null;
  }

  /** Stops accepting and ends every connection of this mapping, dials in flight included. */
  close(): void {
    this.stopAccepting();
    this.closeConnections();
  }

  closeConnections(): void {
    // Dials first: one may read its client's descriptor (early data) until it ends, so that
    // descriptor is closed, and its number free for another socket, only once the dial is cancelled.
    this.abort.abort();
    this.abort = new DialAbort();
    // A relay still dialing is released within reset(), which unlinks it: step on first.
    for (let relay = this.head, next: Relay | null; relay !== null; relay = next) {
      next = relay.next;
      relay.reset();
    }
  }

  /** Bytes relayed so far by the live connections: [client -> upstream, upstream -> client]. */
  addLiveBytes(totals: [number, number]): void {
    for (let relay = this.head; relay !== null; relay = relay.next) {
      totals[0] += relay.bytesUp;
      totals[1] += relay.bytesDown;
    }
  }

  relayStarted(mode: RelayMode): void {
    this.ctx.stats.relays[mode]++;
  }

  relayReleased(relay: Relay): void {
    if (relay.prev === null) this.head = relay.next;
    else relay.prev.next = relay.next;
    if (relay.next !== null) relay.next.prev = relay.prev;
    relay.prev = relay.next = null;
    this.ctx.limits.release(this.slots);
    relay.servedBy?.connectionEnded();
    this.ctx.stats.closedBytesUp += relay.bytesUp;
    this.ctx.stats.closedBytesDown += relay.bytesDown;
  }

  /** A connection accepted by acceptTcp (see AcceptedHandler); the descriptor is ours. */
  accept(fd: number, peer: string | null, originalAddress: string | null, originalPortOrErrno: number, localAddress: string | null, localPort: number): void {
    const route = this.route;
    const ctx = this.ctx;
    ctx.stats.connectionsTotal++;
    if (route.blocked !== null || this.dialer === null) return refuse(fd, 'blocked', ctx.stats);
    // Defence in depth behind nftables: only the mapping's own client may use this port.
    if (peer !== route.clientIp && peer !== this.mappedClientIp) return refuse(fd, 'not_client', ctx.stats);
    // Where the client meant to go (docs/ARCHITECTURE.md "TPROXY mode"): TPROXY leaves the
    // connection's own local address (anything but the loopback we listen on), DNAT leaves
    // 127.0.0.1:<port> and conntrack's original destination.
    let dstAddress: string;
    let dstPort: number;
    if (localAddress !== null && localAddress !== LOOPBACK && localAddress !== MAPPED_LOOPBACK) {
      dstAddress = localAddress.startsWith('::ffff:') ? localAddress.slice(7) : localAddress;
      dstPort = localPort;
    } else {
      // No conntrack entry (the errno in place of the port): nowhere to go.
      if (originalAddress === null) return refuse(fd, 'no_original_dst', ctx.stats);
      // Reached without a redirect: the proxy would be asked to connect to its own loopback.
      if (originalPortOrErrno === route.listenPort && originalAddress === localAddress) return refuse(fd, 'not_redirected', ctx.stats);
      dstAddress = originalAddress;
      dstPort = originalPortOrErrno;
    }
    // DNS over TCP goes to the configured upstream resolver, if any; the guard below judges that address.
    if (ctx.dns !== undefined) ({ ip: dstAddress, port: dstPort } = ctx.dns.target(dstAddress, dstPort));
    const refusal = ctx.limits.acquire(this.slots);
    if (refusal !== null) return refuse(fd, refusal, ctx.stats);
    // Loopback, link-local, the gateway, the LAN (and private ranges if so set): refused before the proxy hears of it.
    const forbidden = ctx.destinations.refusal(dstAddress, route.privateDestinations);
    if (forbidden !== null) {
      ctx.limits.release(this.slots);
      ctx.stats.refused(forbidden);
      resetFd(fd);
      return;
    }
    const relay = new Relay(fd, this);
    relay.destination = dstAddress;
    relay.next = this.head;
    if (this.head !== null) this.head.prev = relay;
    this.head = relay;
    this.connect(relay, route, this.dialer, this.abort, dstAddress, dstPort);
  }

  acceptFailed(error: Error): void {
    this.ctx.acceptFailed(this.route, error);
  }

  /**
   * Starts the dial within the accept's own turn: an async function's entry costs microseconds on
   * a cold cache, paid after the first packet to the proxy has left (dialed).
   */
  private connect(relay: Relay, route: MappingRoute, dialer: Dialer, signal: DialAbort, host: string, port: number): void {
    let dialing: Promise<RelaySocket | NativeUpstream>;
    try {
      const target = { host, port };
      // allowHalfOpen: each direction's FIN is relayed on its own (see relay.ts).
      const options = { timeoutMs: this.ctx.connectTimeoutMs, signal, allowHalfOpen: true, checkProxyAddress: this.ctx.destinations.checkProxyAddress, handshake: route.handshake };
      // A warm connection when the proxy's pool has one: only the CONNECT is left to do.
      const pool = this.ctx.warmPools?.pool(route) ?? null;
      relay.servedBy = pool;
      // The pools hold what the dial mode uses (boot.ts makes them with the matching connector).
      // The client's descriptor stays open while the dial runs (closeConnections aborts the dials first).
      // The native dial starts the relay itself once the proxy has answered (boot.ts picks the
      // native dial only where the splice relay is on and works).
      dialing =
        this.ctx.dialMode === 'native'
          ? dialUpstream(route.proxy!, target, options, pool as WarmPool<NativeWarm> | null, { clientFd: relay.descriptor, fastOpen: this.ctx.fastOpen, relay: relay.dialRelay(this.ctx.idleTimeoutMs) })
          : pool === null
            ? dialer.dial(route.proxy!, target, options)
            : (pool as WarmPool<Socket>).dial(target, options);
    } catch (error) {
      dialing = Promise.reject(error as Error);
    }
    void this.dialed(relay, route, dialing);
  }

  private async dialed(relay: Relay, route: MappingRoute, dialing: Promise<RelaySocket | NativeUpstream>): Promise<void> {
    // Timed from its first packet: a clock read before it would delay it by microseconds (a cold
    // cache), and the set-up before it is the forwarder's own time, not the proxy's.
    const started = performance.now();
    let upstream: RelaySocket | NativeUpstream;
    try {
      upstream = await dialing;
    } catch (error) {
      this.ctx.dialFailed(route, error);
      relay.reset();
      return;
    }
    this.observeConnect((performance.now() - started) / 1000);
    this.ctx.dialSucceeded(route.proxyId);
    // The mapping was removed or blocked while we dialed. (A client that gave up meanwhile is
    // seen by the relay: its first read finds the end or the reset.)
    if (isNativeUpstream(upstream)) {
      if (!relay.released) relay.attachDescriptor(upstream, this.ctx.idleTimeoutMs);
      else if (upstream.relay !== undefined) upstream.relay.close(true);
      else closeFd(upstream.fd);
    } else if (relay.released) {
      upstream.destroy();
    } else {
      relay.attach(upstream, this.ctx.idleTimeoutMs, this.ctx.relayMode);
    }
    if (relay.judgeAgain && !relay.released) this.refuseLive(relay);
  }

  private setRoute(route: MappingRoute): void {
    this.route = route;
    this.mappedClientIp = `::ffff:${route.clientIp}`;
    this.dialer = route.proxy === null ? null : dialerFor(route.proxy.protocol);
    this.observeConnect = this.ctx.connectObserver(route.proxyId);
  }
}

function onAccepted(this: ListenerAcceptor, fd: number, peer: string | null, originalAddress: string | null, originalPortOrErrno: number, localAddress: string | null, localPort: number): void {
  this[LISTENER]!.accept(fd, peer, originalAddress, originalPortOrErrno, localAddress, localPort);
}

function onAcceptFailed(this: ListenerAcceptor, error: Error): void {
  this[LISTENER]?.acceptFailed(error);
}

function refuse(fd: number, reason: RefusalReason, stats: ForwarderStats): void {
  stats.failure(reason);
  resetFd(fd);
}
