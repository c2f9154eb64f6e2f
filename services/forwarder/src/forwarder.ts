import type { Logger } from '@pgw/log';
import type { ListenerContext } from './mapping-listener.js';
import { MappingListener } from './mapping-listener.js';
import { diffRoutes } from './route-diff.js';
import type { MappingRoute, RouteTable } from './routes.js';

export interface ApplyResult {
  readonly opened: number;
  readonly closed: number;
  readonly updated: number;
  /** Mappings whose port could not be opened this time (retried on the next apply). */
  readonly failed: number;
}

/** All mapping listeners: converges them to a route table, and drains them on shutdown. */
export class Forwarder {
  private readonly listeners = new Map<number, MappingListener>();
  /** Mapping id -> last listen error, so a port that stays busy is logged once, not every resync. */
  private readonly listenErrors = new Map<number, string>();
  private accepting = true;

  constructor(
    private readonly ctx: ListenerContext,
    private readonly bindHost: string,
    private readonly logger: Logger,
  ) {}

  get listenerCount(): number {
    return this.listeners.size;
  }

  routes(): Map<number, MappingRoute> {
    const routes = new Map<number, MappingRoute>();
    for (const [id, listener] of this.listeners) routes.set(id, listener.currentRoute);
    return routes;
  }

  perMapping(): Map<number, MappingListener> {
    return this.listeners;
  }

  async apply(table: RouteTable): Promise<ApplyResult> {
    if (!this.accepting) return { opened: 0, closed: 0, updated: 0, failed: 0 };
    const diff = diffRoutes(this.routes(), table.routes);
    // Closes first: a port moving from one mapping to another is free before it is opened again.
    for (const id of diff.close) {
      this.listeners.get(id)?.close();
      this.listeners.delete(id);
    }
    for (const { route, closeConnections } of diff.update) this.listeners.get(route.mappingId)?.update(route, closeConnections);
    let failed = 0;
    await Promise.all(
      diff.open.map(async (route) => {
        const listener = new MappingListener(route, this.ctx);
        try {
          await listener.listen(this.bindHost);
        } catch (error) {
          failed++;
          const message = (error as Error).message;
          if (this.listenErrors.get(route.mappingId) !== message) {
            this.logger.error('cannot listen for mapping', { mappingId: route.mappingId, port: route.listenPort, error: message });
            this.listenErrors.set(route.mappingId, message);
          }
          return;
        }
        if (!this.accepting) return listener.close();
        if (this.listenErrors.delete(route.mappingId)) this.logger.info('listening again for mapping', { mappingId: route.mappingId });
        this.listeners.set(route.mappingId, listener);
      }),
    );
    for (const id of this.listenErrors.keys()) if (!table.routes.has(id)) this.listenErrors.delete(id);
    return { opened: diff.open.length - failed, closed: diff.close.length, updated: diff.update.length, failed };
  }

  /**
   * Graceful stop: no new connections, open relays may finish until the deadline, then the
   * rest is closed. Resolves once every connection is gone.
   */
  async drain(timeoutMs: number): Promise<{ remaining: number }> {
    this.accepting = false;
    for (const listener of this.listeners.values()) listener.stopAccepting();
    const deadline = Date.now() + timeoutMs;
    while (this.ctx.limits.activeConnections > 0 && Date.now() < deadline) await sleep(50);
    const remaining = this.ctx.limits.activeConnections;
    for (const listener of this.listeners.values()) listener.close();
    // Their 'close' events arrive within a few ticks once destroyed.
    for (let i = 0; i < 40 && this.ctx.limits.activeConnections > 0; i++) await sleep(25);
    this.listeners.clear();
    return { remaining };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
