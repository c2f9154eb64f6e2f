import { type MappingRoute, sameEndpoint, sameProxy } from './routes.js';

/** What the listeners must do to go from the routes in force to the desired ones. */
export interface RouteDiff {
  /** Close the listener and every connection of these mappings (removed, or moved to another port). */
  readonly close: readonly number[];
  /** Open a listener (new mapping, or the new port of a moved one). */
  readonly open: readonly MappingRoute[];
  /**
   * Same port, new route: new connections use it. `closeConnections` is true when the live
   * connections must go too: the client became blocked, its address changed, or its proxy
   * changed (another proxy, or the same proxy's endpoint or credentials).
   */
  readonly update: readonly { readonly route: MappingRoute; readonly closeConnections: boolean }[];
}

/**
 * Pure: old routes (listeners in force) vs desired routes. Unchanged routes appear nowhere, so
 * a change touches only its own mapping. A changed proxy also ends the live connections: left
 * on the old proxy they would keep the old exit IP, or a dead proxy after a failover (mihomo
 * issue 2223); the client's reconnect goes through the new one.
 */
export function diffRoutes(current: ReadonlyMap<number, MappingRoute>, desired: ReadonlyMap<number, MappingRoute>): RouteDiff {
  const close: number[] = [];
  const open: MappingRoute[] = [];
  const update: { route: MappingRoute; closeConnections: boolean }[] = [];
  for (const [id, old] of current) {
    const next = desired.get(id);
    if (next === undefined || next.listenPort !== old.listenPort) close.push(id);
  }
  for (const [id, next] of desired) {
    const old = current.get(id);
    if (old === undefined || old.listenPort !== next.listenPort) {
      open.push(next);
    } else if (!sameRoute(old, next)) {
      const unchangedProxy = sameProxy(old, next);
      const closeConnections = next.blocked !== null || next.clientIp !== old.clientIp || !unchangedProxy;
      update.push({ route: unchangedProxy ? { ...next, proxy: old.proxy } : next, closeConnections });
    }
  }
  return { close, open, update };
}

function sameRoute(a: MappingRoute, b: MappingRoute): boolean {
  return (
    a.clientIp === b.clientIp &&
    a.proxyId === b.proxyId &&
    a.blocked === b.blocked &&
    a.privateDestinations === b.privateDestinations &&
    a.handshake === b.handshake &&
    sameEndpoint(a.proxy, b.proxy)
  );
}
