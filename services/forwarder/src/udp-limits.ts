import type { DestinationRefusal } from '@pgw/domain';

/** Bounds of the UDP relay of TPROXY mode (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY mode"). */
export interface UdpLimits {
  /** A flow (client ip:port) with no datagram either way this long is closed with its association. */
  readonly idleMs: number;
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
  /** Datagrams held per flow while its association opens; more are dropped. */
  readonly queuedPerFlow: number;
}

export const DEFAULT_UDP_LIMITS: UdpLimits = {
  idleMs: 60_000,
  perClient: 256,
  total: 8_192,
  destinationsPerFlow: 64,
  destinationsPerClient: 1_024,
  destinationsTotal: 16_384,
  queuedPerFlow: 32,
};

/** Descriptors the relay holds at its limits: per flow its association's TCP and UDP socket, plus every reply socket. */
export function worstCaseUdpDescriptors(limits: UdpLimits): number {
  return limits.total * 2 + limits.destinationsTotal;
}

/** Why a client's datagram was not relayed (pgw_forwarder_udp_dropped_total{reason}, the status record). */
export type UdpDropReason =
  | DestinationRefusal
  | 'unmapped'
  | 'blocked'
  | 'proxy_without_udp'
  | 'associate_failed'
  | 'limit_client'
  | 'limit_total'
  | 'limit_destinations'
  | 'limit_destinations_total'
  | 'reply_socket_refused'
  | 'queue_full'
  | 'truncated';

/** Open flows per client against the limits; pure bookkeeping, the relay owns the flows. */
export class UdpFlowCounts {
  private readonly perClient = new Map<string, number>();
  private all = 0;
  private readonly destinationsPerClient = new Map<string, number>();
  private allDestinations = 0;

  constructor(private readonly limits: Pick<UdpLimits, 'perClient' | 'total' | 'destinationsPerClient' | 'destinationsTotal'>) {}

  get destinations(): number {
    return this.allDestinations;
  }

  /** null: one more reply socket of `client` fits; otherwise which limit it hits. */
  destinationRefusal(client: string): 'limit_destinations' | 'limit_destinations_total' | null {
    if (this.allDestinations >= this.limits.destinationsTotal) return 'limit_destinations_total';
    if ((this.destinationsPerClient.get(client) ?? 0) >= this.limits.destinationsPerClient) return 'limit_destinations';
    return null;
  }

  addDestination(client: string): void {
    this.destinationsPerClient.set(client, (this.destinationsPerClient.get(client) ?? 0) + 1);
    this.allDestinations++;
  }

  /** A flow of `client` ended with `count` reply sockets (never below zero). */
  removeDestinations(client: string, count: number): void {
    const held = this.destinationsPerClient.get(client) ?? 0;
    const removed = Math.min(held, count);
    if (held - removed === 0) this.destinationsPerClient.delete(client);
    else this.destinationsPerClient.set(client, held - removed);
    this.allDestinations -= removed;
  }

  get total(): number {
    return this.all;
  }

  /** null: one more flow of `client` fits; otherwise which limit it hits. */
  refusal(client: string): 'limit_client' | 'limit_total' | null {
    if (this.all >= this.limits.total) return 'limit_total';
    if ((this.perClient.get(client) ?? 0) >= this.limits.perClient) return 'limit_client';
    return null;
  }

  add(client: string): void {
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    this.all++;
  }

  remove(client: string): void {
    const left = (this.perClient.get(client) ?? 0) - 1;
    if (left < 0) return;
    if (left === 0) this.perClient.delete(client);
    else this.perClient.set(client, left);
    this.all--;
  }
}
