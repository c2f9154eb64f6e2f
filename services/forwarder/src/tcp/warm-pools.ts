import { isIP, type Socket } from 'node:net';
import { dialerFor, type ProxyAddressCheck, type WarmConnector, type WarmOpenOptions, WarmPool, type WarmPoolSettings } from '@pgw/dialers';
import type { ProxyEndpoint } from '@pgw/domain';
import { type MappingRoute, sameEndpoint } from '../routes/routes.js';

/**
 * The forwarder's warm pools (@pgw/dialers WarmPool), one per proxy that an unblocked mapping
 * uses. A pool is made on a mapping's first connection, so warm connections go only to proxy
 * endpoints of the desired state, through the same proxy-address check as every dial; retain()
 * after each apply drops at once the pool of a proxy whose endpoint or credentials changed, that
 * was marked down (its mappings are blocked) or that no mapping uses any more.
 */
/** One proxy's warm connections for the metrics: idle now, taken so far (used / stale), how long one takes to open (null: none opened). */
export interface WarmPoolStats {
  readonly idle: number;
  readonly used: number;
  readonly stale: number;
  readonly setupMs: number | null;
}

/** C: what a warm connection is, a net.Socket (JavaScript dialers) or a descriptor (the native dial's connector). */
export class WarmPools<C = Socket> {
  private readonly pools = new Map<number, WarmPool<C>>();
  /** Takes of pools closed for a proxy still in use (its endpoint changed): its counters do not go back. */
  private readonly retiredTakes = new Map<number, { used: number; stale: number }>();

  constructor(
    private readonly settings: WarmPoolSettings,
    private readonly openOptions: WarmOpenOptions,
    /** Default: the dialers' net.Sockets. */
    private readonly connector?: WarmConnector<C>,
  ) {}

  /** The pool to dial `route` with; null for a blocked route. */
  pool(route: MappingRoute): WarmPool<C> | null {
    if (route.blocked !== null || route.proxy === null) return null;
    let pool = this.pools.get(route.proxyId);
    if (pool !== undefined && !sameEndpoint(pool.proxy, route.proxy)) {
      this.retire(route.proxyId, pool);
      pool = undefined;
    }
    if (pool === undefined) {
      pool = new WarmPool<C>(dialerFor(route.proxy.protocol), route.proxy, route.handshake, this.openOptions, this.settings, undefined, this.connector);
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
      this.retire(proxyId, pool);
      this.pools.delete(proxyId);
    }
    for (const proxyId of this.retiredTakes.keys()) if (!inUse.has(proxyId)) this.retiredTakes.delete(proxyId);
  }

  /**
   * After the proxy-address policy changed (the LAN prefix, the gateway's own addresses): closes
   * the pools of proxies it now refuses, so that no idle connection to such an address waits on
   * (a take of a warm connection dials nothing, so nothing would check it). A proxy given by name
   * loses its pool whatever the policy says: the addresses its connections went to are not kept,
   * and the next opens resolve it again through the checked lookup. Returns how many were closed.
   */
  recheckProxies(check: ProxyAddressCheck): number {
    let dropped = 0;
    for (const [proxyId, pool] of this.pools) {
      if (isIP(pool.proxy.host) !== 0 && check(pool.proxy.host) === null) continue;
      this.retire(proxyId, pool);
      this.pools.delete(proxyId);
      dropped++;
    }
    return dropped;
  }

  /** Per proxy with a pool (or one closed while the proxy stays in use). */
  stats(): Map<number, WarmPoolStats> {
    const out = new Map<number, WarmPoolStats>();
    for (const [proxyId, retired] of this.retiredTakes) out.set(proxyId, { idle: 0, ...retired, setupMs: null });
    for (const [proxyId, pool] of this.pools) {
      const before = out.get(proxyId) ?? { idle: 0, used: 0, stale: 0 };
      const takes = pool.takes;
      out.set(proxyId, { idle: pool.counts.ready, used: before.used + takes.used, stale: before.stale + takes.stale, setupMs: pool.setupMs });
    }
    return out;
  }

  private retire(proxyId: number, pool: WarmPool<C>): void {
    pool.close();
    const takes = pool.takes;
    const retired = this.retiredTakes.get(proxyId) ?? { used: 0, stale: 0 };
    this.retiredTakes.set(proxyId, { used: retired.used + takes.used, stale: retired.stale + takes.stale });
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }
}
