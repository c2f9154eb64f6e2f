import { DialError, dialerFor, literalHostProblem, Socks5UdpAssociation, UdpSendBudget } from '@pgw/dialers';
import { DNS_PORT, type DestinationRefusal, type ProxyEndpoint, type ProxyHostRefusal, type Settings } from '@pgw/domain';
import type { Logger } from '@pgw/log';
import { closeFd, sendTransparentUdp, type TransparentDatagram, TransparentUdpReader } from '@pgw/original-dst';
import { type DestinationGuard, proxyRefusalOf } from '../routes/destination-guard.js';
import { parseDnsQuery } from '../dns/dns-header.js';
import type { DnsUpstreamSetting } from '../dns/dns-upstream-setting.js';
import { type MappingRoute, sameEndpoint, sameProxy } from '../routes/routes.js';
import type { UdpAgentSockets } from './udp-agent-sockets.js';
import { DnsOverTcp } from './udp-dns-tcp.js';
import { type DnsRedirect, type Endpoint, UdpFlow } from './udp-flow.js';
import { ClientTally, type UdpDropReason, UdpFlowCounts, type UdpLimits } from './udp-limits.js';

/**
 * A proxy whose UDP ASSOCIATE cannot be used is not asked again for this long: each answer would
 * cost a TCP handshake, a login and a warning per flow, and a resolver's random source ports make
 * every DNS query a flow.
 */
const NO_UDP_REMEMBERED_MS = 30_000;

/**
 * Why a proxy's UDP cannot be used, remembered for the proxy (while its endpoint stays): it refused
 * the command, answered what cannot be used (a relay by name, port 0, a malformed reply), or named
 * a relay the policy refuses (then for the private-ranges setting it was judged under, and until
 * the policy changes). Not a silence or a close: those may pass.
 */
interface UnusableUdp {
  readonly drop: UdpDropReason;
  readonly reason: string;
  readonly until: number;
  readonly proxy: ProxyEndpoint;
  readonly judgedUnder?: { readonly privateDestinations: MappingRoute['privateDestinations'] };
}

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
  /** DNS queries answered over TCP through the tunnel (proxies without UDP); the truncated ones (TC=1) also apart. */
  dnsOverTcpAnswered = 0;
  dnsOverTcpTruncated = 0;
  readonly dropped = new Map<UdpDropReason, number>();
}

export interface UdpRelayOptions {
  readonly connectTimeoutMs: number;
  readonly limits: UdpLimits;
  readonly destinations: DestinationGuard;
  /** dnsMode and dnsUpstream in force (shared with the TCP listeners). */
  readonly dns: DnsUpstreamSetting;
}

/**
 * TPROXY mode's UDP relay (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY mode"). Reads the
 * transparent socket nft's tproxy feeds (the agent's, like every transparent socket: this
 * process holds no capability), finds the client's route, and relays each client flow (client
 * ip:port) through one SOCKS5 UDP association of the client's own proxy. Never direct: a client
 * whose proxy carries no UDP (HTTP CONNECT, a SOCKS5 server refusing ASSOCIATE), a blocked or
 * unmapped client, and datagrams over the limits are dropped, counted by reason, and the reason
 * is kept per mapping for the status record. With dnsMode proxy a client's DNS whose proxy
 * carries no UDP is answered over TCP through the tunnel instead (udp-dns-tcp.ts), and with
 * dnsUpstream set every DNS query goes to that resolver (the answer still comes from the
 * address the client asked).
 */
export class UdpRelay {
  readonly stats = new UdpStats();
  private byIp = new Map<string, MappingRoute>();
  private readonly flows = new Map<string, UdpFlow>();
  private readonly counts: UdpFlowCounts;
  /** Bytes of the datagrams flows hold while their associations open, per client and in all. */
  private readonly queued: ClientTally;
  /** Bytes in all associations' send queues (limits.sendQueuedBytesTotal). */
  private readonly sendBudget: UdpSendBudget;
  private readonly problems = new Map<number, UdpClientProblem>();
  private readonly noUdp = new Map<number, UnusableUdp>();
  private strictOutput = false;
  private reader: TransparentUdpReader | null = null;
  private tproxyFd: number | null = null;
  private readonly sweeper: NodeJS.Timeout;
  private readonly loggedRefusals = new Set<string>();
  private readonly dnsOverTcp: DnsOverTcp;

  constructor(
    private readonly sockets: UdpAgentSockets,
    private readonly options: UdpRelayOptions,
    private readonly logger: Logger,
  ) {
    this.counts = new UdpFlowCounts(options.limits);
    this.queued = new ClientTally(options.limits.queuedBytesPerClient, options.limits.queuedBytesTotal);
    this.sendBudget = new UdpSendBudget(options.limits.sendQueuedBytesTotal);
    this.dnsOverTcp = new DnsOverTcp(options.limits, options.destinations, {
      dial: (route, target, signal) =>
        dialerFor(route.proxy!.protocol).dial(
          route.proxy!,
          { host: target.ip, port: target.port },
          { timeoutMs: options.connectTimeoutMs, signal, keepAlive: false, allowHalfOpen: false, handshake: route.handshake, checkProxyAddress: options.destinations.checkProxyAddress },
        ),
      replySocket: (client, destination) => this.sockets.replySocket(client, destination),
      replyChannel: (fd, onQuery) => {
        let reader: TransparentUdpReader;
        try {
          reader = new TransparentUdpReader(fd, (datagram) => onQuery(datagram.data), () => undefined);
        } catch (error) {
          closeFd(fd);
          throw error;
        }
        return {
          send: (data) => sendTransparentUdp(fd, data),
          close: () => {
            reader.close();
            closeFd(fd);
          },
        };
      },
      fromReplySocket: (client, destination, data) => this.relay(client, destination, data),
      dropped: (route, reason, detail) => this.drop(route, reason, detail),
      answered: (_route, query, answer, truncated) => {
        this.stats.datagramsUp++;
        this.stats.bytesUp += query;
        this.stats.datagramsDown++;
        this.stats.bytesDown += answer;
        this.stats.dnsOverTcpAnswered++;
        if (truncated) this.stats.dnsOverTcpTruncated++;
        // What is reported for the client stays: its other UDP still has no way through this proxy.
      },
    });
    this.sweeper = setInterval(() => this.sweep(), Math.max(100, Math.min(1_000, options.limits.idleMs / 4)));
    this.sweeper.unref();
  }

  get flowCount(): number {
    return this.flows.size;
  }

  /** DNS queries in flight over TCP through the tunnel. */
  get dnsOverTcpQueries(): number {
    return this.dnsOverTcp.queries;
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

  /** The forwarder's routes changed: flows whose client is gone, blocked, or moved to another proxy or endpoint end now. */
  /**
   * The settings of every load; true when strict OUTPUT came on (the caller then ends the flows
   * whose relay is elsewhere: enforceProxies). Out of TPROXY mode every flow and DNS query over
   * TCP ends: the client's UDP is dropped then, and the answers their reply sockets would still
   * carry to it (its proxy's among them) must end with the mode, not at the idle sweep.
   */
  configure(settings: Pick<Settings, 'strictOutput' | 'interceptMode'>): boolean {
    const tightened = settings.strictOutput && !this.strictOutput;
    this.strictOutput = settings.strictOutput;
    if (settings.interceptMode !== 'tproxy' && (this.flows.size > 0 || this.dnsOverTcp.queries > 0)) {
      const flows = this.flows.size;
      for (const flow of [...this.flows.values()]) flow.close();
      this.dnsOverTcp.stop();
      this.logger.info('UDP flows ended: the gateway left TPROXY mode', { flows });
    }
    return tightened;
  }

  apply(routes: ReadonlyMap<number, MappingRoute>): void {
    const byIp = new Map<string, MappingRoute>();
    for (const route of routes.values()) byIp.set(route.clientIp, route);
    const before = this.byIp;
    this.byIp = byIp;
    for (const flow of this.flows.values()) {
      const route = byIp.get(flow.client.ip);
      if (route === undefined || route.blocked !== null || !sameProxy(route, flow.via)) flow.close();
      // The mapping's own private-ranges choice changed: a relay its proxy named elsewhere is a
      // destination judged under it, as the flow's destinations are.
      else if (route.privateDestinations !== before.get(flow.client.ip)?.privateDestinations && !this.endIfRefused(flow)) this.judgeDestinations(flow);
    }
    this.dnsOverTcp.retain(byIp);
    this.enforceDnsOverTcp();
    for (const id of this.problems.keys()) if (!routes.has(id)) this.problems.delete(id);
  }

  /**
   * After the policy tightened (the LAN prefix, the gateway's own addresses, private ranges): ends
   * the flows whose proxy, or the UDP relay their proxy named, it now refuses (a relay away from
   * the proxy judged as a destination too); both were judged only when the association opened.
   * Their clients' next datagrams open a flow that is judged anew. The destinations of the flows
   * that stay are judged again too (enforceDestinations). Returns how many flows ended.
   */
  enforceProxies(): number {
    // What the policy refused before is judged anew by the next flow.
    for (const [proxyId, known] of this.noUdp) if (known.judgedUnder !== undefined) this.noUdp.delete(proxyId);
    let ended = 0;
    for (const flow of [...this.flows.values()]) if (this.endIfRefused(flow)) ended++;
    this.enforceDestinations();
    this.enforceDnsOverTcp();
    return ended;
  }

  /**
   * DNS over TCP in flight is judged again as a TCP relay is: a query whose proxy, or whose
   * resolver under the client's choice as it stands, the policy now refuses ends now, not at its
   * answer or its timeout.
   */
  private enforceDnsOverTcp(): void {
    this.dnsOverTcp.enforce((route, target) => {
      const proxyHost = route.proxy?.host;
      const proxy = proxyHost === undefined ? null : literalHostProblem(proxyHost, this.options.destinations.checkProxyAddress);
      if (proxy !== null) return { reason: proxy.reason, detail: `proxy ${proxyHost}: ${proxy.message}` };
      const resolver = this.options.destinations.refusal(target.ip, this.currentPrivateDestinations(route.clientIp, route));
      return resolver === null ? null : { reason: resolver, detail: `destination ${target.ip}` };
    });
  }

  /**
   * The client's choice for private destinations as it stands now (null: the global setting), the
   * flow's own only when its route is gone: a choice cleared while an ASSOCIATE was pending must
   * not fall back to the "allow" the flow opened with (`??` took null for missing).
   */
  private currentPrivateDestinations(clientIp: string, atOpen: MappingRoute): MappingRoute['privateDestinations'] {
    const current = this.byIp.get(clientIp);
    return current === undefined ? atOpen.privateDestinations : current.privateDestinations;
  }

  /** Ends a flow whose proxy, or the UDP relay its proxy named, the policy in force refuses; true when it did. */
  private endIfRefused(flow: UdpFlow): boolean {
    const check = this.options.destinations.checkProxyAddress;
    const proxyHost = flow.via.proxy?.host;
    const relay = flow.relayAddress;
    const elsewhere = flow.relayElsewhere;
    const problem =
      (proxyHost !== undefined ? literalHostProblem(proxyHost, check) : null) ?? (relay !== null ? check(relay) : null) ?? (elsewhere !== null ? this.relayRefusal(elsewhere, this.byIp.get(flow.client.ip)?.privateDestinations ?? null) : null);
    if (problem === null) return false;
    // Counted as the refusal it is, not as a failed association.
    this.drop(this.byIp.get(flow.client.ip) ?? null, problem.reason, problem.message);
    flow.closeRefused();
    return true;
  }

  /**
   * Each client datagram is judged when it comes, but a destination's answers reach the client
   * through the reply socket opened when it was allowed: a destination the policy now refuses (its
   * private range denied since, an address the gateway took) loses that socket, as a TCP relay
   * there is reset.
   */
  private enforceDestinations(): void {
    for (const flow of this.flows.values()) this.judgeDestinations(flow);
  }

  /** One flow's destinations judged again (its mapping's private-ranges choice, or the policy, changed). */
  private judgeDestinations(flow: UdpFlow): void {
    const privateDestinations = this.byIp.get(flow.client.ip)?.privateDestinations ?? null;
    const forgotten = flow.forgetDestinations((destination) => this.askedRefusal(destination, privateDestinations) !== null);
    if (forgotten > 0) this.logger.info('UDP destinations forgotten: the destination policy now refuses them', { client: flow.client.ip, destinations: forgotten });
  }

  /** DNS sent to dnsUpstream instead of the address the client asked (by association or over TCP). */
  private redirectedDns(destination: Endpoint): boolean {
    return destination.port === DNS_PORT && this.options.dns.throughProxy && this.options.dns.current !== null;
  }

  /**
   * The refusal of an address a client sent to, whose reply socket answers it. Redirected DNS only
   * answers from there (the upstream is judged as the destination): never the gateway's own,
   * loopback, link-local or the LAN, whatever resolver answers, and a private resolver is fine. The
   * same judgment at the first datagram and on every policy change, or a change forgot it.
   */
  private askedRefusal(destination: Endpoint, privateDestinations: MappingRoute['privateDestinations']): DestinationRefusal | null {
    return this.options.destinations.refusal(destination.ip, this.redirectedDns(destination) ? 'allow' : privateDestinations);
  }

  /**
   * A relay the proxy names away from its own address receives every datagram of the flow from the
   * gateway: it must be a destination this client may reach, judged as its datagrams' destinations are.
   */
  private relayRefusal(address: string, privateDestinations: MappingRoute['privateDestinations']): { reason: DestinationRefusal | 'relay_elsewhere'; message: string } | null {
    // Strict OUTPUT lets the forwarder's UDP out to proxies' addresses only (render-tproxy.ts): a
    // relay elsewhere would take every datagram into a drop that dgram does not report.
    if (this.strictOutput) return { reason: 'relay_elsewhere', message: `strict OUTPUT sends UDP to proxy addresses only, and the proxy named its relay at ${address}` };
    const reason = this.options.destinations.refusal(address, privateDestinations);
    return reason === null ? null : { reason, message: `a destination this client may not reach (${reason})` };
  }

  /** Per mapping: why its client's UDP is dropped (the last reason seen). */
  clientProblems(): ReadonlyMap<number, UdpClientProblem> {
    return this.problems;
  }

  stop(): void {
    clearInterval(this.sweeper);
    for (const flow of [...this.flows.values()]) flow.close();
    this.dnsOverTcp.stop();
    this.reader?.close();
    if (this.tproxyFd !== null) closeFd(this.tproxyFd);
    this.tproxyFd = null;
  }

  private fromClient(d: TransparentDatagram): void {
    if (d.truncated) return this.drop(this.byIp.get(d.address) ?? null, 'truncated');
    this.relay({ ip: d.address, port: d.port }, { ip: d.dstAddress, port: d.dstPort }, d.data);
  }

  /** One datagram of `client` to `destination`, from the tproxy socket or a reply socket of its flow. */
  private relay(client: Endpoint, destination: Endpoint, data: Buffer): void {
    const route = this.byIp.get(client.ip);
    if (route === undefined) return this.drop(null, 'unmapped');
    // Port 0 is nobody's port (a crafted datagram): no proxy relays it, no reply socket is bound to it.
    if (client.port === 0 || destination.port === 0) return this.drop(route, 'invalid_port', `${client.port === 0 ? 'from' : 'to'} port 0`);
    const dns = destination.port === DNS_PORT && this.options.dns.throughProxy;
    if (this.redirectedDns(destination) && route.blocked === null) {
      const asked = this.askedRefusal(destination, route.privateDestinations);
      if (asked !== null) return this.drop(route, asked, `destination ${destination.ip}`);
    }
    if (dns && this.withoutUdp(route)) return this.dnsOverTcp.query(route, client, destination, this.options.dns.target(destination.ip, destination.port), data);
    let redirect: DnsRedirect | null = null;
    const upstream = dns ? this.options.dns.current : null;
    if (upstream !== null) {
      // Its id finds the destination the answer belongs to: only a standard query is redirected.
      const parsed = parseDnsQuery(data);
      if ('problem' in parsed) return this.drop(route, 'dns_invalid', parsed.problem);
      redirect = { via: upstream, id: parsed.id };
    }
    // The guard judges where the proxy is asked to send it (the upstream when redirected), before
    // a flow opens: a refused destination costs no association at the proxy, nor a flow's place.
    const to = redirect?.via ?? destination;
    const refused = route.blocked === null ? this.options.destinations.refusal(to.ip, route.privateDestinations) : null;
    if (refused !== null) return this.drop(route, refused, `destination ${to.ip}`);
    const key = `${client.ip}:${client.port}`;
    const flow = this.flows.get(key) ?? this.open(route, client, key);
    if (flow === null) return;
    flow.send(destination, data, redirect);
  }

  /** The client's proxy carries no UDP: an HTTP proxy, or a SOCKS5 server that refused ASSOCIATE lately. */
  private withoutUdp(route: MappingRoute): boolean {
    if (route.blocked !== null || route.proxy === null) return false; // dropped as blocked by the flow path
    if (route.proxy.protocol !== 'socks5') return true;
    return this.unusableUdp(route) !== null;
  }

  /** Why the proxy's UDP cannot be used, while it is remembered and holds for this route (the proxy's endpoint, the private-ranges setting). */
  private unusableUdp(route: MappingRoute): UnusableUdp | null {
    const known = this.noUdp.get(route.proxyId);
    if (known === undefined || known.until <= Date.now() || !sameEndpoint(known.proxy, route.proxy)) return null;
    return known.judgedUnder === undefined || known.judgedUnder.privateDestinations === route.privateDestinations ? known : null;
  }

  private open(route: MappingRoute, client: Endpoint, key: string): UdpFlow | null {
    if (route.blocked !== null || route.proxy === null) return this.drop(route, 'blocked', route.blocked ?? 'no proxy'), null;
    const proxy = route.proxy;
    if (proxy.protocol !== 'socks5') return this.drop(route, 'proxy_without_udp', `${proxy.protocol} proxies carry no UDP`), null;
    const unusable = this.unusableUdp(route);
    if (unusable !== null) return this.drop(route, unusable.drop, unusable.reason), null;
    const limit = this.counts.refusal(client.ip);
    if (limit !== null) return this.drop(route, limit), null;
    this.counts.add(client.ip);
    const flow = new UdpFlow(key, client, route, this.options.limits, {
      associate: (handlers, signal) =>
        Socks5UdpAssociation.open(proxy, { timeoutMs: this.options.connectTimeoutMs, signal, handshake: route.handshake, checkProxyAddress: this.options.destinations.checkProxyAddress, checkRelay: (address) => this.relayRefusal(address, this.currentPrivateDestinations(client.ip, route)), sendBudget: this.sendBudget }, handlers),
      replySocket: (c, destination) => this.sockets.replySocket(c, destination),
      fromReplySocket: (destination, data) => this.relay(client, destination, data),
      reserveDestination: () => {
        const refusal = this.counts.destinationRefusal(client.ip);
        if (refusal === null) this.counts.addDestination(client.ip);
        return refusal;
      },
      releaseDestinations: (count) => this.counts.removeDestinations(client.ip, count),
      reserveQueued: (bytes) => {
        if (this.queued.over(client.ip, bytes) !== null) return false;
        this.queued.add(client.ip, bytes);
        return true;
      },
      releaseQueued: (bytes) => this.queued.remove(client.ip, bytes),
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
        if (opened || ended.refused) return;
        // Ended here before the proxy answered (a block, a move, leaving TPROXY, a stop, the idle
        // sweep): nothing failed at the proxy, and what ended it is reported by its own path.
        if (error === null || (error instanceof DialError && error.reason === 'aborted')) return;
        const reason = error.message;
        const until = Date.now() + NO_UDP_REMEMBERED_MS;
        // The policy refused the proxy or the relay it named: a refusal, the proxy was never asked or is not used.
        const refusal = proxyRefusalOf<ProxyHostRefusal | DestinationRefusal | 'relay_elsewhere'>(error);
        if (refusal !== null) {
          this.noUdp.set(route.proxyId, { drop: refusal, reason, until, proxy, judgedUnder: { privateDestinations: route.privateDestinations } });
          return this.drop(route, refusal, reason);
        }
        this.stats.associationsFailed++;
        // Remembered for the proxy whatever went wrong: said no (command not supported), answered
        // what cannot be used, hung up or stayed silent. Each new client port otherwise opened
        // another control connection, greeting and auth, a flood at the proxy.
        this.noUdp.set(route.proxyId, { drop: 'associate_failed', reason, until, proxy });
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
    // The agent's refusals say what is wrong on the gateway: logged once per kind of answer. Its
    // addresses are the client's choice: keyed by them, a client's datagrams to 100 addresses it
    // refuses used up every line, and no later refusal was ever logged.
    if (reason === 'reply_socket_refused') {
      const kind = detail.replace(/\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?/g, '<address>');
      if (!this.loggedRefusals.has(kind) && this.loggedRefusals.size < 100) {
        this.loggedRefusals.add(kind);
        this.logger.warn('the agent refused a UDP reply socket: datagrams to that destination are dropped', { mappingId: route?.mappingId, reason: detail });
      }
    }
    if (route === null) return;
    const previous = this.problems.get(route.mappingId);
    this.problems.set(route.mappingId, { reason, detail: detail.slice(0, 200), datagrams: (previous?.datagrams ?? 0) + 1 });
  }

  private sweep(): void {
    const now = Date.now();
    for (const flow of [...this.flows.values()]) if (flow.expired(now)) flow.close();
  }
}
