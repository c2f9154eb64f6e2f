import { setMaxListeners } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Dialer, dialerFor } from '@pgw/dialers';
import { getOriginalDst, type OriginalDst, serverFd } from '@pgw/original-dst';
import type { ConnectionLimits } from './connection-limits.js';
import { MappingSlots } from './connection-limits.js';
import type { DestinationGuard } from './destination-guard.js';
import type { ForwarderStats, RefusalReason } from './forwarder-stats.js';
import { Relay, type RelayMode, type RelayOwner, type RelaySocket } from './relay.js';
import type { MappingRoute } from './routes.js';
import type { WarmPools } from './warm-pools.js';

/** What every mapping listener shares with the forwarder. */
export interface ListenerContext {
  readonly limits: ConnectionLimits;
  readonly stats: ForwarderStats;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly relayMode: RelayMode;
  readonly destinations: Pick<DestinationGuard, 'refusal' | 'checkProxyAddress'>;
  /** Warm connections per proxy (PGW_FORWARDER_WARM_POOL); null: every connection dials. */
  readonly warmPools: WarmPools | null;
  /** The upstream connect latency histogram's child for one proxy (looked up once per route). */
  connectObserver(proxyId: number): (seconds: number) => void;
  dialSucceeded(proxyId: number): void;
  dialFailed(route: MappingRoute, error: unknown): void;
  acceptFailed(route: MappingRoute, error: Error): void;
}

const SERVER_OPTIONS: net.ServerOpts = {
  allowHalfOpen: true,
  // Nothing is read from the client before its upstream exists: it waits in the kernel's buffer.
  pauseOnConnect: true,
  noDelay: true,
  keepAlive: true,
  keepAliveInitialDelay: 60_000,
};

const LISTENER = Symbol('pgw.forwarder.listener');

/** listen() sets the shared socket's backlog again: the same as the agent's (listener-server.ts). */
const LISTEN_BACKLOG = 1024;

interface ListenerServer extends net.Server {
  [LISTENER]?: MappingListener;
}

/** One mapping's port: accepts only its client, and relays through the mapping's proxy. */
export class MappingListener implements RelayOwner {
  readonly slots = new MappingSlots();
  private readonly server: ListenerServer;
  private route!: MappingRoute;
  private mappedClientIp = '';
  private dialer: Dialer | null = null;
  private observeConnect: (seconds: number) => void = () => undefined;
  /** Aborts this mapping's dials in flight when its connections must go. */
  private abort = newAbortController();
  private head: Relay | null = null;

  constructor(
    route: MappingRoute,
    private readonly ctx: ListenerContext,
  ) {
    this.server = net.createServer(SERVER_OPTIONS);
    this.server[LISTENER] = this;
    this.server.on('connection', onConnection);
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
    return serverFd(this.server);
  }

  /**
   * Serves a listening socket the agent created (its descriptor is ours from now on). Closing
   * this server closes only our duplicate: the agent's keeps the port and its queued connections.
   */
  listen(fd: number): Promise<void> {
    const server = this.server;
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd, backlog: LISTEN_BACKLOG }, () => {
        server.removeListener('error', reject);
        // After listening, errors are failed accepts (EMFILE and the like): count, keep serving.
        server.on('error', (error: Error) => this.ctx.acceptFailed(this.route, error));
        resolve();
      });
    });
  }

  /** Same port, new route. New connections use it; live ones are closed when asked. */
  update(route: MappingRoute, closeConnections: boolean): void {
    this.setRoute(route);
    if (closeConnections) this.closeConnections();
  }

  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Stops accepting and ends every connection of this mapping, dials in flight included. */
  close(): void {
    this.stopAccepting();
    this.closeConnections();
  }

  closeConnections(): void {
    this.abort.abort();
    this.abort = newAbortController();
    for (let relay = this.head; relay !== null; relay = relay.next) relay.reset();
  }

  /** Bytes relayed so far by the live connections: [client -> upstream, upstream -> client]. */
  addLiveBytes(totals: [number, number]): void {
    for (let relay = this.head; relay !== null; relay = relay.next) {
      totals[0] += relay.bytesUp;
      totals[1] += relay.bytesDown;
    }
  }

  relayReleased(relay: Relay): void {
    if (relay.prev === null) this.head = relay.next;
    else relay.prev.next = relay.next;
    if (relay.next !== null) relay.next.prev = relay.prev;
    relay.prev = relay.next = null;
    this.ctx.limits.release(this.slots);
    this.ctx.stats.closedBytesUp += relay.bytesUp;
    this.ctx.stats.closedBytesDown += relay.bytesDown;
  }

  accept(socket: RelaySocket): void {
    const route = this.route;
    const ctx = this.ctx;
    ctx.stats.connectionsTotal++;
    if (route.blocked !== null || this.dialer === null) return refuse(socket, 'blocked', ctx.stats);
    // Defence in depth behind nftables: only the mapping's own client may use this port.
    const peer = socket.remoteAddress;
    if (peer !== route.clientIp && peer !== this.mappedClientIp) return refuse(socket, 'not_client', ctx.stats);
    const refusal = ctx.limits.acquire(this.slots);
    if (refusal !== null) return refuse(socket, refusal, ctx.stats);
    let dst: OriginalDst;
    try {
      dst = getOriginalDst(socket);
    } catch {
      ctx.limits.release(this.slots);
      return refuse(socket, 'no_original_dst', ctx.stats);
    }
    // Reached without a redirect: the proxy would be asked to connect to its own loopback.
    if (dst.port === route.listenPort && dst.address === socket.localAddress) {
      ctx.limits.release(this.slots);
      return refuse(socket, 'not_redirected', ctx.stats);
    }
    // Loopback, link-local, the gateway, the LAN (and private ranges if so set): refused before the proxy hears of it.
    const forbidden = ctx.destinations.refusal(dst.address, route.privateDestinations);
    if (forbidden !== null) {
      ctx.limits.release(this.slots);
      ctx.stats.refused(forbidden);
      socket.resetAndDestroy();
      return;
    }
    const relay = new Relay(socket, this);
    relay.next = this.head;
    if (this.head !== null) this.head.prev = relay;
    this.head = relay;
    void this.connect(relay, route, this.dialer, this.abort.signal, dst);
  }

  private async connect(relay: Relay, route: MappingRoute, dialer: Dialer, signal: AbortSignal, dst: OriginalDst): Promise<void> {
    const started = performance.now();
    let upstream: RelaySocket;
    try {
      const target = { host: dst.address, port: dst.port };
      // allowHalfOpen: each direction's FIN is relayed on its own (see relay.ts).
      const options = { timeoutMs: this.ctx.connectTimeoutMs, signal, allowHalfOpen: true, checkProxyAddress: this.ctx.destinations.checkProxyAddress, handshake: route.handshake };
      // A warm connection when the proxy's pool has one: only the CONNECT is left to do.
      const pool = this.ctx.warmPools?.pool(route) ?? null;
      upstream = await (pool === null ? dialer.dial(route.proxy!, target, options) : pool.dial(target, options));
    } catch (error) {
      this.ctx.dialFailed(route, error);
      relay.reset();
      return;
    }
    this.observeConnect((performance.now() - started) / 1000);
    this.ctx.dialSucceeded(route.proxyId);
    // The mapping was removed or blocked, or the client gave up, while we dialed.
    if (relay.released || relay.client.destroyed) {
      upstream.destroy();
      return;
    }
    relay.attach(upstream, this.ctx.idleTimeoutMs, this.ctx.relayMode);
  }

  private setRoute(route: MappingRoute): void {
    this.route = route;
    this.mappedClientIp = `::ffff:${route.clientIp}`;
    this.dialer = route.proxy === null ? null : dialerFor(route.proxy.protocol);
    this.observeConnect = this.ctx.connectObserver(route.proxyId);
  }
}

function onConnection(this: ListenerServer, socket: net.Socket): void {
  this[LISTENER]!.accept(socket);
}

function refuse(socket: net.Socket, reason: RefusalReason, stats: ForwarderStats): void {
  stats.failure(reason);
  socket.resetAndDestroy();
}

function newAbortController(): AbortController {
  const controller = new AbortController();
  // One signal serves every dial of the mapping; many listeners on it are expected.
  setMaxListeners(0, controller.signal);
  return controller;
}
