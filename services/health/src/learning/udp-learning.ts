// Whether a proxy carries UDP (issue 15), learned by the health probe beside its layer-7 check and
// shown per proxy like the handshake mode: a SOCKS5 proxy is asked for a UDP ASSOCIATE, which is
// closed as soon as it is answered; an HTTP CONNECT proxy carries no UDP and is not asked. Not on
// every probe: when not known for the proxy's endpoint and credentials (the 0020 trigger forgets it
// on a change), and again after UDP_RELEARN_MS so that a proxy gaining or losing UDP is noticed.
// The answer never changes the proxy's status: UDP is an extra, TCP is what the probe judges.
import type { ProxyEndpoint, ProxyHandshake, ProxyUdpSupport } from '@pgw/domain';
import { DialError, type DialOptions, type ProxyAddressCheck, Socks5UdpAssociation, type UdpAssociationHandlers } from '@pgw/dialers';

/** How long what was learned holds before the probe asks again. */
export const UDP_RELEARN_MS = 10 * 60_000;

/** What one check found: the support, or null when it could not tell (the proxy unreachable, silent, ...) and why. */
export interface UdpCheck {
  readonly support: ProxyUdpSupport | null;
  readonly error: string | null;
}

/** The opening of an association, as Socks5UdpAssociation.open does it (a test passes its own). */
export type OpenAssociation = (proxy: ProxyEndpoint, options: DialOptions, handlers: UdpAssociationHandlers) => Promise<{ close(): void }>;

/** Whether this probe should ask: never asked for this endpoint (checkedAt null), or asked `relearnMs` ago or more. */
export function udpCheckDue(checkedAt: Date | null, now: number, relearnMs = UDP_RELEARN_MS): boolean {
  return checkedAt === null || now - checkedAt.getTime() >= relearnMs;
}

export interface UdpCheckOptions {
  readonly timeoutMs: number;
  /** The handshake the forwarder would use for its associations (handshakeToUse). */
  readonly handshake: ProxyHandshake;
  readonly checkProxyAddress: ProxyAddressCheck;
}

/**
 * Asks `proxy` whether it carries UDP. Supported: the proxy answered UDP ASSOCIATE with a relay
 * address (the association is closed at once, nothing is sent through it). Unsupported: it refused
 * the command (SOCKS5 reply code: command not supported, not allowed by its rules, ...), or it
 * speaks HTTP CONNECT. Anything else (not reachable, auth failed, no answer in time, a malformed
 * reply) says nothing about UDP: null, with the error.
 */
export async function checkUdpSupport(proxy: ProxyEndpoint, options: UdpCheckOptions, open: OpenAssociation = (p, o, h) => Socks5UdpAssociation.open(p, o, h)): Promise<UdpCheck> {
  if (proxy.protocol !== 'socks5') return { support: 'unsupported', error: null };
  try {
    const association = await open(proxy, { timeoutMs: options.timeoutMs, handshake: options.handshake, checkProxyAddress: options.checkProxyAddress, keepAlive: false }, { onMessage: () => undefined, onClose: () => undefined });
    association.close();
    return { support: 'supported', error: null };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // An ASSOCIATE refused by the proxy (command not supported) or by its rules (reply 2, worded
    // target_refused as for a CONNECT): it carries no UDP for us.
    if (error instanceof DialError && (error.reason === 'proxy_refused' || error.reason === 'target_refused')) return { support: 'unsupported', error: message };
    return { support: null, error: message };
  }
}
