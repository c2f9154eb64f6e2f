import type { ProxyEndpoint, ProxyProtocol } from '@pgw/domain';
import type { HandshakePlan } from './handshake-plan.js';
import { HttpConnectDialer } from './http-connect.js';
import { Socks5Dialer } from './socks5.js';
import type { DialOptions, DialTarget, Dialer } from './types.js';

export { DialError, type DialFailureReason, type DialStep } from './dial-error.js';
export type { DialOptions, DialSignal, DialTarget, Dialer, ProxyAddressCheck } from './types.js';
export { DialAbort } from './dial-abort.js';
export { shownText } from './shown-text.js';
export { type HandshakePlan, type PlannedDialFailure, type PlannedStage, planAborted, planFailure } from './handshake-plan.js';
export { guardedLookup, literalHostProblem, refuseLiteralHost } from './proxy-address-check.js';
export { withContext } from './handshake.js';
export { HttpConnectDialer } from './http-connect.js';
export { Socks5Dialer } from './socks5.js';
export { type RelayRefusal, SEND_QUEUE_BYTES, Socks5UdpAssociation, type UdpAssociationHandlers, type UdpAssociationOptions, type UdpSendOutcome } from './socks5-udp.js';
export { UdpSendBudget } from './udp-send-budget.js';
export type { UdpRelayAddress } from './socks5-udp-protocol.js';
export { type WarmConnector, type WarmLoss, WarmPool, type WarmOpenOptions, type WarmPoolCounts, type WarmVia } from './warm-pool.js';
export { type WarmPoolSettings, WarmPoolSizing } from './warm-pool-sizing.js';

const SOCKS5 = new Socks5Dialer();
const HTTP = new HttpConnectDialer();

/** The shared, stateless-per-dial dialer for a protocol (used by the prober and the forwarder). */
export function dialerFor(protocol: ProxyProtocol): Dialer {
  return proxyDialerFor(protocol);
}

/**
 * The handshake a dial through `proxy` to `target` runs (onWarm: on a warm connection, the CONNECT
 * alone), as data for a dial run elsewhere (handshake-plan.ts); throws DialError as dial() rejects.
 */
export function handshakePlan(proxy: ProxyEndpoint, target: DialTarget, options: DialOptions, onWarm: boolean): HandshakePlan {
  return proxyDialerFor(proxy.protocol).plan(proxy, target, options, onWarm);
}

/** The handshake of a warm connection's open (Dialer.open), as handshakePlan. */
export function openPlan(proxy: ProxyEndpoint, options: DialOptions): HandshakePlan {
  return proxyDialerFor(proxy.protocol).openPlan(proxy, options);
}

function proxyDialerFor(protocol: ProxyProtocol): Socks5Dialer | HttpConnectDialer {
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
