import type { PrivateDestinations } from './destination-policy.js';
import type { FailPolicy } from './fail-policy.js';
import type { MacAddress } from './mac.js';
import type { Ipv4, Port } from './net.js';
import type { ClientShaping } from './shaping.js';

/** One LAN client pinned to one upstream proxy through its own forwarder port. */
export interface Mapping {
  readonly id: number;
  readonly clientIp: Ipv4;
  readonly proxyId: number;
  readonly listenPort: Port;
  readonly enabled: boolean;
  readonly description: string;
  /** null: any MAC may use the client's IP. Otherwise only this one (dropped before DNAT). */
  readonly macAddress?: MacAddress | null;
  /** This client's own choice for private destinations; absent or null: the global setting. */
  readonly privateDestinations?: PrivateDestinations | null;
  /** Bandwidth limits and byte quota; absent or null: unlimited. */
  readonly shaping?: ClientShaping | null;
  /** What the client gets while its proxy is down (chooseUpstream); absent: closed. */
  readonly failPolicy?: FailPolicy;
  /** Policy backup: the proxies to use instead, in order; absent: none. */
  readonly backupProxyIds?: readonly number[];
}

/**
 * The most mappings a gateway holds (a /20 LAN's clients): what the benchmarks size it for, and
 * what one usage sample of the agent carries (@pgw/events CLIENT_USAGE_MAX_CLIENTS); the api
 * refuses the mapping past it.
 */
export const MAX_MAPPINGS = 4096;
