import { dialerFor, type WarmOpenOptions, WarmPool, type WarmPoolSettings } from '@pgw/dialers';
import type { ProxyEndpoint } from '@pgw/domain';
import { type MappingRoute, sameEndpoint } from './routes.js';

/**
 * The forwarder's warm pools (@pgw/dialers WarmPool), one per proxy that an unblocked mapping
 * uses. A pool is made on a mapping's first connection, so warm connections go only to proxy
 * endpoints of the desired state, through the same proxy-address check as every dial; retain()
 * after each apply drops at once the pool of a proxy whose endpoint or credentials changed, that
 * was marked down (its mappings are blocked) or that no mapping uses any more.
 */
export class WarmPools {
  private readonly pools = new Map<number, WarmPool>();

  constructor(
    private readonly settings: WarmPoolSettings,
    private readonly openOptions: WarmOpenOptions,
  ) {}

  /** The pool to dial `route` with; null for a blocked route. */
  pool(route: MappingRoute): WarmPool | null {
    if (route.blocked !== null || route.proxy === null) return null;
    let pool = this.pools.get(route.proxyId);
    if (pool !== undefined && !sameEndpoint(pool.proxy, route.proxy)) {
      pool.close();
      pool = undefined;
    }
    if (pool === undefined) {
      pool = new WarmPool(dialerFor(route.proxy.protocol), route.proxy, route.handshake, this.openOptions, this.settings);
      this.pools.set(route.proxyId, pool);
    }
    pool.handshake = route.handshake;
    return pool;
  }

  /** Keeps only the pools of the proxies that the unblocked `routes` use, with the same endpoint. */
  retain(routes: Iterable<MappingRoute>): void {
    const inUse = new Map<number, ProxyEndpoint>();
    for (const route of routes) if (route.blocked === null && route.proxy !== null) inUse.set(route.proxyId, route.proxy);
    for (const [proxyId, pool] of this.pools) {
      const proxy = inUse.get(proxyId);
      if (proxy !== undefined && sameEndpoint(pool.proxy, proxy)) continue;
      pool.close();
      this.pools.delete(proxyId);
    }
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }
}
