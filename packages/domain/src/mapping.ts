import type { Ipv4, Port } from './net.js';

/** One LAN client pinned to one upstream proxy through its own forwarder port. */
export interface Mapping {
  readonly id: number;
  readonly clientIp: Ipv4;
  readonly proxyId: number;
  readonly listenPort: Port;
  readonly enabled: boolean;
  readonly description: string;
}
