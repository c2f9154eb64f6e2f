import { DialAbort, type DialSignal, type Socks5UdpAssociation, type UdpAssociationHandlers } from '@pgw/dialers';
import { closeFd, sendTransparentUdp, type TransparentDatagram, TransparentUdpReader } from '@pgw/original-dst';
import type { MappingRoute } from '../routes/routes.js';
import type { UdpSocketGrant } from './udp-agent-sockets.js';
import type { UdpDropReason, UdpLimits } from './udp-limits.js';

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

/** What a flow needs from the relay. */
export interface UdpFlowDeps {
  /** Opens the flow's association through its client's proxy; `signal` aborts it once the flow ended. */
  associate(handlers: UdpAssociationHandlers, signal: DialSignal): Promise<Socks5UdpAssociation>;
  /** A reply socket for `destination` from the agent. */
  replySocket(client: Endpoint, destination: Endpoint): Promise<UdpSocketGrant>;
  /** Takes one place for a reply socket in the relay's budget (per client, in all), or says which limit is hit. */
  reserveDestination(): UdpDropReason | null;
  /** Gives back the places of the flow's reply sockets once it ended. */
  releaseDestinations(count: number): void;
  /** Takes `bytes` of the relay-wide budget for datagrams waiting to be sent; false: over it. */
  reserveQueued(bytes: number): boolean;
  releaseQueued(bytes: number): void;
  /** A datagram of the client that came in on one of the flow's reply sockets: decided like one from the tproxy socket (DNS upstream, DNS over TCP). */
  fromReplySocket(destination: Endpoint, data: Buffer): void;
  dropped(reason: UdpDropReason, detail?: string): void;
  relayed(direction: 'up' | 'down', bytes: number): void;
  /** Once, when the flow ended: idle, closed by the relay, or its association failed or ended. */
  closed(flow: UdpFlow, error: Error | null, opened: boolean): void;
}

/**
 * A DNS query the relay sends to the configured upstream resolver instead of the address the
 * client asked (settings.dnsUpstream): where it goes, and its id, which finds the destination
 * its answer belongs to (several destinations of a flow may share the upstream).
 */
export interface DnsRedirect {
  readonly via: Endpoint;
  readonly id: number;
}

/** Redirected queries awaiting their answer per flow; the oldest is forgotten beyond (a resolver gives up on it long before). */
const REDIRECTED_PENDING_MAX = 256;

/** One destination of a flow: its reply socket, and what waits for it. */
interface Destination {
  fd: number | null;
  reader: TransparentUdpReader | null;
  /** When the agent refused its reply socket (Date.now()); null while not refused. */
  refusedAt: number | null;
  /** Datagrams to send once both the association and this reply socket are there. */
  readonly waiting: { readonly data: Buffer; readonly redirect: DnsRedirect | null }[];
}

/**
 * One client flow (client ip:port) of TPROXY mode's UDP relay: one SOCKS5 UDP association
 * through the client's proxy, and a reply socket per destination the client addressed (made by
 * the agent: bound to the destination, connected to the client), so each answer reaches the
 * client from the address it sent to, and the flow's later datagrams to that destination come in
 * on that socket. A datagram goes to the proxy only once both exist: a destination the agent
 * refuses (the LAN, loopback, ...) never reaches the proxy. An answer from a source the client
 * never addressed is dropped (endpoint-dependent filtering, as a NAT would).
 */
export class UdpFlow {
  lastActive = Date.now();
  /** The client's own last datagram (answers refresh lastActive only): limits.clientSilenceMs. */
  private lastFromClient = this.lastActive;
  /** Ended because the policy now refuses its proxy or relay: not a failed association. */
  refused = false;
  private association: Socks5UdpAssociation | null = null;
  /** Ends the association's open with the flow: a route change, block or refused proxy sends it nothing more. */
  private readonly opening = new DialAbort();
  private readonly destinations = new Map<string, Destination>();
  /** `<upstream ip:port>#<query id>` -> the destination the client asked, for answers of redirected queries. */
  private readonly redirected = new Map<string, string>();
  private queued = 0;
  private queuedBytes = 0;
  private ended = false;

  constructor(
    readonly key: string,
    readonly client: Endpoint,
    /** The proxy it associated through: the flow ends when the client's route leaves it (routes.ts sameProxy). */
    readonly via: Pick<MappingRoute, 'proxyId' | 'proxy'>,
    private readonly limits: UdpLimits,
    private readonly deps: UdpFlowDeps,
  ) {
    deps
      .associate(
        {
          onMessage: (data, from) => this.fromProxy(data, `${from.address}:${from.port}`),
          onClose: (error) => this.end(error),
        },
        this.opening,
      )
      .then(
        (association) => {
          if (this.ended) return association.close();
          this.association = association;
          for (const [key, destination] of this.destinations) this.flush(key, destination);
        },
        (error: Error) => this.end(error),
      );
  }

  /** The proxy's UDP relay address the association talks to (null until it opened): judged again when the policy tightens. */
  get relayAddress(): string | null {
    return this.association?.relay.address ?? null;
  }

  /** The relay address where it is not the proxy's own (null until it opened, or at the proxy): judged as a destination too. */
  get relayElsewhere(): string | null {
    return this.association !== null && !this.association.relayIsProxy ? this.association.relay.address : null;
  }

  /** Whether the idle sweep ends it at `now`: no datagram either way for idleMs, or none from the client for clientSilenceMs. */
  expired(now: number): boolean {
    return now - this.lastActive > this.limits.idleMs || now - this.lastFromClient > this.limits.clientSilenceMs;
  }

  get opened(): boolean {
    return this.association !== null;
  }

  /** A datagram of the client to `destination` (from the tproxy socket or a reply socket); `redirect`: sent to the DNS upstream instead. */
  send(destination: Endpoint, data: Buffer, redirect: DnsRedirect | null = null): void {
    if (this.ended) return;
    // The client speaks: the flow is in use, whatever becomes of this datagram.
    this.lastActive = this.lastFromClient = Date.now();
    const key = `${destination.ip}:${destination.port}`;
    let known = this.destinations.get(key);
    // A refusal stands for limits.refusalHoldMs; the datagram after it asks the agent again.
    if (known?.refusedAt != null && this.lastFromClient - known.refusedAt >= this.limits.refusalHoldMs) {
      this.forget(key, known);
      known = undefined;
    }
    if (known === undefined) {
      if (this.destinations.size >= this.limits.destinationsPerFlow) return this.deps.dropped('limit_destinations');
      const overBudget = this.deps.reserveDestination();
      if (overBudget !== null) return this.deps.dropped(overBudget);
      known = { fd: null, reader: null, refusedAt: null, waiting: [] };
      this.destinations.set(key, known);
      this.requestReplySocket(key, destination, known);
    }
    if (known.refusedAt !== null) return this.deps.dropped('reply_socket_refused');
    if (this.association !== null && known.fd !== null) return this.toProxy(key, destination, data, redirect);
    if (this.queued >= this.limits.queuedPerFlow || this.queuedBytes + data.length > this.limits.queuedBytesPerFlow || !this.deps.reserveQueued(data.length)) {
      return this.deps.dropped('queue_full');
    }
    this.queued++;
    this.queuedBytes += data.length;
    known.waiting.push({ data, redirect });
  }

  close(): void {
    this.end(null);
  }

  /** Ends it because the policy now refuses its proxy or relay (UdpRelay.enforceProxies). */
  closeRefused(): void {
    this.refused = true;
    this.end(null);
  }

  /**
   * Forgets the destinations the policy now refuses (a private range denied since, an address the
   * gateway took): their reply sockets close, so nothing of theirs reaches the client any more;
   * the client's own datagrams there are refused before they reach the flow. Returns how many.
   */
  forgetDestinations(refused: (destination: Endpoint) => boolean): number {
    let forgotten = 0;
    for (const [key, destination] of this.destinations) {
      const colon = key.lastIndexOf(':');
      if (!refused({ ip: key.slice(0, colon), port: Number(key.slice(colon + 1)) })) continue;
      this.forget(key, destination);
      forgotten++;
    }
    return forgotten;
  }

  private forget(key: string, destination: Destination): void {
    destination.reader?.close();
    if (destination.fd !== null) closeFd(destination.fd);
    destination.fd = null;
    this.unqueue(destination);
    this.destinations.delete(key);
    this.deps.releaseDestinations(1);
  }

  private requestReplySocket(key: string, destination: Endpoint, known: Destination): void {
    void this.deps.replySocket(this.client, destination).then((grant) => {
      if ('reason' in grant) {
        for (let i = 0; i < known.waiting.length; i++) this.deps.dropped('reply_socket_refused', grant.reason);
        // The agent away for a moment (a restart, a timeout): the next datagram asks again, where
        // a refusal kept for good would cut this destination off for the whole flow.
        if (grant.transient && !this.ended && this.destinations.get(key) === known) return this.forget(key, known);
        known.refusedAt = Date.now();
        this.unqueue(known);
        return;
      }
      // Ended, or this destination forgotten (the policy refuses it since) while the agent answered.
      if (this.ended || this.destinations.get(key) !== known) return closeFd(grant.fd);
      try {
        known.reader = new TransparentUdpReader(
          grant.fd,
          (datagram: TransparentDatagram) => this.deps.fromReplySocket({ ip: datagram.dstAddress, port: datagram.dstPort }, datagram.data),
          () => undefined, // a failed read ends nothing else: the flow's idle timer closes it
        );
      } catch (error) {
        // Not watchable (out of memory or watches): refused for a moment; thrown from here it would
        // be an unhandled rejection, which ends the whole forwarder.
        closeFd(grant.fd);
        for (let i = 0; i < known.waiting.length; i++) this.deps.dropped('reply_socket_refused', (error as Error).message);
        return this.forget(key, known);
      }
      known.fd = grant.fd;
      this.flush(key, known);
    });
  }

  private flush(key: string, destination: Destination): void {
    if (this.association === null || destination.fd === null) return;
    const [ip, port] = [key.slice(0, key.lastIndexOf(':')), Number(key.slice(key.lastIndexOf(':') + 1))];
    for (const { data, redirect } of destination.waiting) this.toProxy(key, { ip, port }, data, redirect);
    this.unqueue(destination);
  }

  /** Empties a destination's waiting datagrams (sent or dropped) and gives their place and bytes back. */
  private unqueue(destination: Destination): void {
    let bytes = 0;
    for (const { data } of destination.waiting) bytes += data.length;
    this.queued -= destination.waiting.length;
    this.queuedBytes -= bytes;
    destination.waiting.length = 0;
    if (bytes > 0) this.deps.releaseQueued(bytes);
  }

  private toProxy(key: string, destination: Endpoint, data: Buffer, redirect: DnsRedirect | null): void {
    const target = redirect?.via ?? destination;
    if (redirect !== null) {
      const pending = `${redirect.via.ip}:${redirect.via.port}#${redirect.id}`;
      this.redirected.delete(pending);
      if (this.redirected.size >= REDIRECTED_PENDING_MAX) this.redirected.delete(this.redirected.keys().next().value!);
      this.redirected.set(pending, key);
    }
    const outcome = this.association!.send({ host: target.ip, port: target.port }, data);
    if (outcome === 'sent') this.deps.relayed('up', data.length);
    else if (outcome !== 'closed') this.deps.dropped(outcome);
  }

  private fromProxy(data: Buffer, from: string): void {
    // An answer of the upstream to a redirected query leaves from the address the client asked.
    const pending = data.length >= 2 ? `${from}#${data.readUInt16BE(0)}` : '';
    const asked = this.redirected.get(pending);
    if (asked !== undefined) this.redirected.delete(pending);
    const destination = this.destinations.get(asked ?? from);
    // Only answers from a destination the client addressed, through its reply socket.
    if (destination?.fd == null) return;
    let sent: boolean;
    try {
      sent = sendTransparentUdp(destination.fd, data);
    } catch (error) {
      // Thrown from the association's message handler it would end the whole forwarder.
      return this.deps.dropped('reply_send_failed', (error as Error).message);
    }
    // Only an answer delivered keeps the flow: one the kernel refuses (a client over its quota,
    // blocked, or gone) must not hold its association and sockets while the remote keeps sending.
    if (!sent) return this.deps.dropped('reply_send_failed', "the client's socket buffer is full or its port unreachable");
    this.lastActive = Date.now();
    this.deps.relayed('down', data.length);
  }

  private end(error: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.opening.abort();
    const opened = this.association !== null;
    this.association?.close();
    for (const [key, destination] of this.destinations) this.forget(key, destination);
    this.deps.closed(this, error, opened);
  }
}
