import type { ProxyProtocol } from '@pgw/domain';
import { HttpConnectDialer } from './http-connect.js';
import { Socks5Dialer } from './socks5.js';
import type { Dialer } from './types.js';

export { DialError, type DialFailureReason, type DialStep } from './dial-error.js';
export type { DialOptions, DialSignal, DialTarget, Dialer, ProxyAddressCheck } from './types.js';
export { DialAbort } from './dial-abort.js';
export { HttpConnectDialer } from './http-connect.js';
export { Socks5Dialer } from './socks5.js';
export { Socks5UdpAssociation, type UdpAssociationHandlers } from './socks5-udp.js';
export type { UdpRelayAddress } from './socks5-udp-protocol.js';
export { WarmPool, type WarmOpenOptions, type WarmPoolCounts } from './warm-pool.js';
export { type WarmPoolSettings, WarmPoolSizing } from './warm-pool-sizing.js';

const SOCKS5 = new Socks5Dialer();
const HTTP = new HttpConnectDialer();

/** The shared, stateless-per-dial dialer for a protocol (used by the prober and the forwarder). */
export function dialerFor(protocol: ProxyProtocol): Dialer {
  switch (protocol) {
    case 'socks5':
      return SOCKS5;
    case 'http':
      return HTTP;
    default: {
      const unknown: never = protocol;
      throw new Error(`no dialer for proxy protocol ${JSON.stringify(unknown)} (expected http or socks5)`);
    }
  }
}
