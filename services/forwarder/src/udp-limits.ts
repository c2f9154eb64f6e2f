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
  /** Datagrams held per flow while its association opens; more are dropped. */
  readonly queuedPerFlow: number;
}

export const DEFAULT_UDP_LIMITS: UdpLimits = { idleMs: 60_000, perClient: 256, total: 8_192, destinationsPerFlow: 64, queuedPerFlow: 32 };

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
  | 'reply_socket_refused'
  | 'queue_full'
  | 'truncated';

/** Open flows per client against the limits; pure bookkeeping, the relay owns the flows. */
export class UdpFlowCounts {
  private readonly perClient = new Map<string, number>();
  private all = 0;

  constructor(private readonly limits: Pick<UdpLimits, 'perClient' | 'total'>) {}

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
