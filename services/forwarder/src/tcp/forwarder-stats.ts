import type { DestinationRefusal, ProxyHostRefusal } from '@pgw/domain';
import type { RelayMode } from './relay.js';

/** Refusals by the destination policy: a forbidden destination, or a proxy at a forbidden address. */
export type PolicyRefusal = DestinationRefusal | ProxyHostRefusal;

/** Why a connection ended without being relayed (refusals before a dial, and dial failures). */
export type RefusalReason = 'blocked' | 'not_client' | 'limit_global' | 'limit_mapping' | 'no_original_dst' | 'not_redirected' | 'draining' | PolicyRefusal;

/**
 * Plain counters the hot path bumps; the metrics registry reads them at scrape time, so a
 * connection costs no label hashing.
 */
export class ForwarderStats {
  connectionsTotal = 0;
  /** Bytes of relays already closed; live relays are added at read time. */
  closedBytesUp = 0;
  closedBytesDown = 0;
  /** Relays started, by where their bytes move: js also counts connections the kernel relay declined in splice mode. */
  readonly relays: Record<RelayMode, number> = { splice: 0, js: 0 };
  readonly failures = new Map<string, number>();
  /** The policy refusals alone (also counted in failures): pgw_forwarder_refused_total and the status record. */
  readonly refusals = new Map<PolicyRefusal, number>();

  failure(reason: string): void {
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
  }

  refused(reason: PolicyRefusal): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
    this.failure(reason);
  }
}
