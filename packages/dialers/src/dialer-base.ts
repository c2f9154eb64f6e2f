import type { Socket } from 'node:net';
import type { ProxyEndpoint, ProxyProtocol } from '@pgw/domain';
import { DialError } from './dial-error.js';
import { type Exchange, runHandshake, withContext } from './handshake.js';
import { checkTarget } from './target.js';
import type { DialOptions, DialTarget, Dialer } from './types.js';

/**
 * What every protocol's dialer shares: the target check, a per-proxy cache of what only depends
 * on the proxy's credentials (greeting and auth bytes, the Proxy-Authorization line), errors with
 * proxy and target, and the connect/timeout/abort/proxy-address handling of runHandshake. A
 * protocol says only which exchanges a dial runs.
 */
export abstract class ProxyDialer<Prepared> implements Dialer {
  abstract readonly protocol: ProxyProtocol;
  /** Named in errors: "SOCKS5 auth: ...". */
  protected abstract readonly protocolName: string;
  // Keyed by the endpoint object: the forwarder keeps one per proxy while its credentials stay the same.
  private readonly prepared = new WeakMap<ProxyEndpoint, Prepared>();

  /** Computes the per-proxy part once; throws DialError('invalid_request') for unusable credentials. */
  protected abstract prepare(proxy: ProxyEndpoint): Prepared;

  /** The exchanges of one dial to `target` (the target has passed checkTarget). */
  protected abstract exchanges(prepared: Prepared, target: DialTarget, options: DialOptions): readonly Exchange[];

  dial(proxy: ProxyEndpoint, target: DialTarget, options: DialOptions): Promise<Socket> {
    let exchanges: readonly Exchange[];
    try {
      checkTarget(target);
      let prepared = this.prepared.get(proxy);
      if (prepared === undefined) {
        prepared = this.prepare(proxy);
        this.prepared.set(proxy, prepared);
      }
      exchanges = this.exchanges(prepared, target, options);
    } catch (error) {
      return Promise.reject(error instanceof DialError ? withContext(error, proxy, target) : error);
    }
    return runHandshake(proxy, target, options, this.protocolName, exchanges);
  }
}
