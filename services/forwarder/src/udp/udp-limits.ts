import type { DestinationRefusal, ProxyHostRefusal } from '@pgw/domain';

/** Bounds of the UDP relay of TPROXY mode (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY mode"). */
export interface UdpLimits {
  /** A flow (client ip:port) with no datagram either way this long is closed with its association. */
  readonly idleMs: number;
  /**
   * A flow whose client has sent nothing this long is closed whatever answers it still gets: the
   * proxy writes each answer's source itself, so answers alone could hold a flow, and the relay's
   * limits with it, for ever. Refreshed by the client only, as a NAT's mapping (RFC 4787 REQ-6),
   * and longer than its two-minute floor (REQ-5) for clients that mostly listen.
   */
  readonly clientSilenceMs: number;
  /** Open flows (associations) per client address. */
  readonly perClient: number;
  /** Open flows in all. */
  readonly total: number;
  /** Destinations (reply sockets) per flow. */
  readonly destinationsPerFlow: number;
  /**
   * Reply sockets per client across its flows, and in all: each is a descriptor, so without these
   * one client's flows x destinations (256 x 64) would hold 16k of the forwarder's descriptors and
   * a few clients would leave none for the TCP relays.
   */
  readonly destinationsPerClient: number;
  readonly destinationsTotal: number;
  /**
   * How long the agent's refusal of a destination's reply socket stands for a flow: the next
   * datagram after it asks again. A refusal may be of a moment (no policy in force yet after a
   * restart, out of descriptors, a block the flow's route has not seen yet), and a client that keeps
   * sending (a VPN's keepalives) would otherwise hold its flow, and the refusal, for good.
   */
  readonly refusalHoldMs: number;
  /** Datagrams held per flow while its association opens; more are dropped. */
  readonly queuedPerFlow: number;
  /**
   * Their bytes, per flow and across all flows: a datagram holds up to 64 KiB, so a count alone let
   * one client's flows to a proxy silent to UDP ASSOCIATE hold 256 x 32 x 64 KiB (512 MiB, the
   * forwarder's MemoryMax) for the connect timeout, again with every new flow.
   */
  readonly queuedBytesPerFlow: number;
  /** A quarter of the total: one client's flows (256 x 64 KiB) otherwise held all of it, and every other client's first datagrams were dropped. */
  readonly queuedBytesPerClient: number;
  readonly queuedBytesTotal: number;
  /**
   * Bytes waiting in the associations' send queues (the kernel not taking them: an uplink slower
   * than the clients), all flows together, beside each association's own 256 KiB: 256 flows per
   * client held 64 MiB a client, a few clients the forwarder's MemoryMax.
   */
  readonly sendQueuedBytesTotal: number;
  /**
   * DNS over TCP (clients whose proxy carries no UDP, udp-dns-tcp.ts): queries in flight per
   * client and in all (each holds a tunnel, and a reply socket per client port and resolver), and
   * how long one may take, dial through the proxy to answer.
   */
  readonly dnsQueriesPerClient: number;
  readonly dnsQueriesTotal: number;
  readonly dnsTimeoutMs: number;
}

export const DEFAULT_UDP_LIMITS: UdpLimits = {
  idleMs: 60_000,
  clientSilenceMs: 300_000,
  perClient: 256,
  total: 8_192,
  destinationsPerFlow: 64,
  destinationsPerClient: 1_024,
  destinationsTotal: 15_360,
  refusalHoldMs: 5_000,
  queuedPerFlow: 32,
  queuedBytesPerFlow: 64 * 1024,
  queuedBytesPerClient: 4 * 1024 * 1024,
  queuedBytesTotal: 16 * 1024 * 1024,
  sendQueuedBytesTotal: 32 * 1024 * 1024,
  dnsQueriesPerClient: 32,
  dnsQueriesTotal: 512,
  dnsTimeoutMs: 5_000,
};

/**
 * Descriptors the relay holds at its limits: per flow its association's TCP and UDP socket, plus
 * every reply socket; per DNS query over TCP its tunnel and at most one reply socket.
 */
export function worstCaseUdpDescriptors(limits: UdpLimits): number {
  return limits.total * 2 + limits.destinationsTotal + limits.dnsQueriesTotal * 2;
}

/** Why a client's datagram was not relayed (pgw_forwarder_udp_dropped_total{reason}, the status record). */
export type UdpDropReason =
  | DestinationRefusal
  | ProxyHostRefusal
  | 'unmapped'
  // From or to port 0: only a crafted datagram has it.
  | 'invalid_port'
  // The proxy named its UDP relay away from its own address while strict OUTPUT lets UDP out to proxies only.
  | 'relay_elsewhere'
  | 'blocked'
  | 'proxy_without_udp'
  | 'associate_failed'
  | 'limit_client'
  | 'limit_total'
  | 'limit_destinations'
  | 'limit_destinations_total'
  | 'reply_socket_refused'
  | 'queue_full'
  | 'truncated'
  // Larger than one datagram once the SOCKS5 header is added (payloads of 65,498 bytes and more).
  | 'oversize'
  // An answer for the client its reply socket could not send (netfilter dropped it: EPERM; the LAN
  // unreachable): dropped like a lost datagram, the flow goes on.
  | 'reply_send_failed'
  // DNS (dnsMode proxy): not a standard query, over the DNS-over-TCP limits, the tunnel failed or
  // timed out, the resolver's answer was not one to the query.
  | 'dns_invalid'
  | 'dns_limit_client'
  | 'dns_limit_total'
  | 'dns_tunnel_failed'
  | 'dns_timeout'
  | 'dns_bad_answer';

/** Things held per client and in all, against a limit on each; never below zero. */
export class ClientTally {
  private readonly byClient = new Map<string, number>();
  private all = 0;

  constructor(
    private readonly perClient: number,
    private readonly total: number,
  ) {}

  get count(): number {
    return this.all;
  }

  /** Which limit `amount` more of `client`'s would cross; null: it fits. */
  over(client: string, amount = 1): 'client' | 'total' | null {
    if (this.all + amount > this.total) return 'total';
    if ((this.byClient.get(client) ?? 0) + amount > this.perClient) return 'client';
    return null;
  }

  add(client: string, amount = 1): void {
    this.byClient.set(client, (this.byClient.get(client) ?? 0) + amount);
    this.all += amount;
  }

  remove(client: string, count: number): void {
    const held = this.byClient.get(client) ?? 0;
    const removed = Math.min(held, count);
    if (held === removed) this.byClient.delete(client);
    else this.byClient.set(client, held - removed);
    this.all -= removed;
  }
}

/** Open flows, and their reply sockets, per client against the limits; pure bookkeeping, the relay owns the flows. */
export class UdpFlowCounts {
  private readonly flows: ClientTally;
  private readonly replySockets: ClientTally;

  constructor(limits: Pick<UdpLimits, 'perClient' | 'total' | 'destinationsPerClient' | 'destinationsTotal'>) {
    this.flows = new ClientTally(limits.perClient, limits.total);
    this.replySockets = new ClientTally(limits.destinationsPerClient, limits.destinationsTotal);
  }

  get total(): number {
    return this.flows.count;
  }

  get destinations(): number {
    return this.replySockets.count;
  }

  /** null: one more flow of `client` fits; otherwise which limit it hits. */
  refusal(client: string): 'limit_client' | 'limit_total' | null {
    const over = this.flows.over(client);
    return over === null ? null : over === 'total' ? 'limit_total' : 'limit_client';
  }

  add(client: string): void {
    this.flows.add(client);
  }

  remove(client: string): void {
    this.flows.remove(client, 1);
  }

  /** null: one more reply socket of `client` fits; otherwise which limit it hits. */
  destinationRefusal(client: string): 'limit_destinations' | 'limit_destinations_total' | null {
    const over = this.replySockets.over(client);
    return over === null ? null : over === 'total' ? 'limit_destinations_total' : 'limit_destinations';
  }

  addDestination(client: string): void {
    this.replySockets.add(client);
  }

  /** A flow of `client` ended with `count` reply sockets. */
  removeDestinations(client: string, count: number): void {
    this.replySockets.remove(client, count);
  }
}
