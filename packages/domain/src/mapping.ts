import type { PrivateDestinations } from './destination-policy.js';
import type { Ipv4, Port } from './net.js';

/** One LAN client pinned to one upstream proxy through its own forwarder port. */
export interface Mapping {
  readonly id: number;
  readonly clientIp: Ipv4;
  readonly proxyId: number;
  readonly listenPort: Port;
  readonly enabled: boolean;
  readonly description: string;
  /** This client's own choice for private destinations; absent or null: the global setting. */
  readonly privateDestinations?: PrivateDestinations | null;
}
