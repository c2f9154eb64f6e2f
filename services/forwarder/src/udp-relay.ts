import { DialError, Socks5UdpAssociation } from '@pgw/dialers';
import type { Logger } from '@pgw/log';
import { closeFd, type TransparentDatagram, TransparentUdpReader } from '@pgw/original-dst';
import type { DestinationGuard } from './destination-guard.js';
import type { MappingRoute } from './routes.js';
import type { UdpAgentSockets } from './udp-agent-sockets.js';
import { type Endpoint, UdpFlow } from './udp-flow.js';
import { type UdpDropReason, UdpFlowCounts, type UdpLimits } from './udp-limits.js';

/** A proxy that refused UDP ASSOCIATE is not asked again for this long (each refusal would cost a TCP handshake per flow). */
const NO_UDP_REMEMBERED_MS = 30_000;

/** Why one client's UDP is not relayed, for the status record: the last reason and how many datagrams. */
export interface UdpClientProblem {
  readonly reason: UdpDropReason;
  readonly detail: string;
  readonly datagrams: number;
}

/** Counts read at scrape time (udp-metrics.ts). */
export class UdpStats {
  datagramsUp = 0;
  datagramsDown = 0;
  bytesUp = 0;
  bytesDown = 0;
  /** Associations asked for (one per new flow); the failed ones are also counted apart. */
  associationsStarted = 0;
  associationsFailed = 0;
  readonly dropped = new Map<UdpDropReason, number>();
}

export interface UdpRelayOptions {
  readonly connectTimeoutMs: number;
  readonly limits: UdpLimits;
  readonly destinations: DestinationGuard;
}

/**
 * TPROXY mode's UDP relay (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY mode"). Reads the
 * transparent socket nft's tproxy feeds (the agent's, like every transparent socket: this
 * process holds no capability), finds the client's route, and relays each client flow (client
 * ip:port) through one SOCKS5 UDP association of the client's own proxy. Never direct: a client
 * whose proxy carries no UDP (HTTP CONNECT, a SOCKS5 server refusing ASSOCIATE), a blocked or
 * unmapped client, and datagrams over the limits are dropped, counted by reason, and the reason
 * is kept per mapping for the status record.
 */
export class UdpRelay {
  readonly stats = new UdpStats();
  private byIp = new Map<string, MappingRoute>();
  private readonly flows = new Map<string, UdpFlow>();
  private readonly counts: UdpFlowCounts;
  private readonly problems = new Map<number, UdpClientProblem>();
  private readonly noUdp = new Map<number, { reason: string; until: number }>();
  private reader: TransparentUdpReader | null = null;
  private tproxyFd: number | null = null;
  private readonly sweeper: NodeJS.Timeout;
  private readonly loggedRefusals = new Set<string>();

  constructor(
    private readonly sockets: UdpAgentSockets,
    private readonly options: UdpRelayOptions,
    private readonly logger: Logger,
  ) {
    this.counts = new UdpFlowCounts(options.limits);
    this.sweeper = setInterval(() => this.sweep(), Math.max(100, Math.min(1_000, options.limits.idleMs / 4)));
    this.sweeper.unref();
  }

  get flowCount(): number {
    return this.flows.size;
  }

  /** The agent's channel is (re)connected: take the tproxy socket (again). */
  async attach(): Promise<void> {
    const grant = await this.sockets.tproxySocket();
    if ('reason' in grant) {
      // After an agent restart the socket this process holds is the one nft still feeds: kept.
      if (this.reader !== null) return void this.logger.info('the agent has no new transparent UDP socket; relaying on the one held', { reason: grant.reason });
      return void this.logger.warn('no transparent UDP socket from the agent: client UDP is not relayed', { reason: grant.reason });
    }
    this.reader?.close();
    if (this.tproxyFd !== null) closeFd(this.tproxyFd);
    this.tproxyFd = grant.fd;
    this.reader = new TransparentUdpReader(grant.fd, (d) => this.fromClient(d), (error) => this.logger.error('reading the transparent UDP socket failed', { error: error.message }));
  }

  /** The forwarder's routes changed: flows whose client is gone, blocked or moved to another proxy end now. */
  apply(routes: ReadonlyMap<number, MappingRoute>): void {
    const byIp = new Map<string, MappingRoute>();
    for (const route of routes.values()) byIp.set(route.clientIp, route);
    this.byIp = byIp;
    for (const flow of this.flows.values()) {
      const route = byIp.get(flow.client.ip);
      if (route === undefined || route.blocked !== null || route.proxyId !== flow.proxyId) flow.close();
    }
    for (const id of this.problems.keys()) if (!routes.has(id)) this.problems.delete(id);
  }

  /** Per mapping: why its client's UDP is dropped (the last reason seen). */
  clientProblems(): ReadonlyMap<number, UdpClientProblem> {
    return this.problems;
  }

  stop(): void {
    clearInterval(this.sweeper);
    for (const flow of [...this.flows.values()]) flow.close();
    this.reader?.close();
    if (this.tproxyFd !== null) closeFd(this.tproxyFd);
    this.tproxyFd = null;
  }

  private fromClient(d: TransparentDatagram): void {
    const route = this.byIp.get(d.address);
    if (route === undefined) return this.drop(null, 'unmapped');
    if (d.truncated) return this.drop(route, 'truncated');
    const key = `${d.address}:${d.port}`;
    const destination = { ip: d.dstAddress, port: d.dstPort };
    const flow = this.flows.get(key) ?? this.open(route, { ip: d.address, port: d.port }, key);
    if (flow === null) return;
    const refused = this.options.destinations.refusal(destination.ip, route.privateDestinations);
    if (refused !== null) return this.drop(route, refused, `destination ${destination.ip}`);
    flow.send(destination, d.data);
  }

  private open(route: MappingRoute, client: Endpoint, key: string): UdpFlow | null {
    if (route.blocked !== null || route.proxy === null) return this.drop(route, 'blocked', route.blocked ?? 'no proxy'), null;
    const proxy = route.proxy;
    if (proxy.protocol !== 'socks5') return this.drop(route, 'proxy_without_udp', `${proxy.protocol} proxies carry no UDP`), null;
    const known = this.noUdp.get(route.proxyId);
    if (known !== undefined && known.until > Date.now()) return this.drop(route, 'associate_failed', known.reason), null;
    const limit = this.counts.refusal(client.ip);
    if (limit !== null) return this.drop(route, limit), null;
    this.counts.add(client.ip);
    const flow = new UdpFlow(key, client, route.proxyId, this.options.limits, {
      associate: (handlers) =>
        Socks5UdpAssociation.open(proxy, { timeoutMs: this.options.connectTimeoutMs, handshake: route.handshake, checkProxyAddress: this.options.destinations.checkProxyAddress }, handlers),
      replySocket: (c, destination) => this.sockets.replySocket(c, destination),
      reserveDestination: () => {
        const refusal = this.counts.destinationRefusal(client.ip);
        if (refusal === null) this.counts.addDestination(client.ip);
        return refusal;
      },
      releaseDestinations: (count) => this.counts.removeDestinations(client.ip, count),
      dropped: (reason, detail) => this.drop(route, reason, detail),
      relayed: (direction, bytes) => {
        if (direction === 'up') {
          this.stats.datagramsUp++;
          this.stats.bytesUp += bytes;
          // Relayed: whatever was reported for this client is history.
          this.problems.delete(route.mappingId);
        } else {
          this.stats.datagramsDown++;
          this.stats.bytesDown += bytes;
        }
      },
      closed: (ended, error, opened) => {
        if (this.flows.get(ended.key) === ended) this.flows.delete(ended.key);
        this.counts.remove(ended.client.ip);
        if (opened) return;
        this.stats.associationsFailed++;
        const reason = error === null ? 'closed before it opened' : error.message;
        // The proxy answered and said no (command not supported, ...): remembered for the proxy.
        if (error instanceof DialError && error.reason === 'proxy_refused') this.noUdp.set(route.proxyId, { reason, until: Date.now() + NO_UDP_REMEMBERED_MS });
        this.drop(route, 'associate_failed', reason);
        this.logger.warn('UDP ASSOCIATE failed: the client’s UDP is dropped', { mappingId: route.mappingId, proxyId: route.proxyId, error: reason });
      },
    });
    this.stats.associationsStarted++;
    this.flows.set(key, flow);
    return flow;
  }

  private drop(route: MappingRoute | null, reason: UdpDropReason, detail = ''): void {
    this.stats.dropped.set(reason, (this.stats.dropped.get(reason) ?? 0) + 1);
    // The agent's refusals say what is wrong on the gateway: logged once per distinct answer.
    if (reason === 'reply_socket_refused' && !this.loggedRefusals.has(detail) && this.loggedRefusals.size < 100) {
      this.loggedRefusals.add(detail);
      this.logger.warn('the agent refused a UDP reply socket: datagrams to that destination are dropped', { mappingId: route?.mappingId, reason: detail });
    }
    if (route === null) return;
    const previous = this.problems.get(route.mappingId);
    this.problems.set(route.mappingId, { reason, detail: detail.slice(0, 200), datagrams: (previous?.datagrams ?? 0) + 1 });
  }

  private sweep(): void {
    const idleBefore = Date.now() - this.options.limits.idleMs;
    for (const flow of [...this.flows.values()]) if (flow.lastActive < idleBefore) flow.close();
  }
}
