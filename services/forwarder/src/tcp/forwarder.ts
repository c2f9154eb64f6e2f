import type { Logger } from '@pgw/log';
import { closeFd } from '@pgw/original-dst';
import type { ListenerContext } from './mapping-listener.js';
import { MappingListener } from './mapping-listener.js';
import { type ListenerSource, PENDING, PortSockets } from './port-sockets.js';
import { diffRoutes } from '../routes/route-diff.js';
import type { MappingRoute, RouteTable } from '../routes/routes.js';

export interface ApplyResult {
  readonly opened: number;
  readonly closed: number;
  readonly updated: number;
  /** The mappings whose port could not be opened this time (retried on the next apply). */
  readonly failedMappings: readonly number[];
  /** The mappings whose socket the agent has not sent yet: the run its answer asks for opens them. */
  readonly pending: number;
}

/**
 * How long a run waits for the agent's sockets before its other changes are done with: a client
 * blocked meanwhile must not wait behind a frozen agent's answer (PortSockets).
 */
const SOCKETS_WAIT_MS = 1_000;

/** All mapping listeners: converges them to a route table, and drains them on shutdown. */
export class Forwarder {
  private readonly listeners = new Map<number, MappingListener>();
  /** Mapping id -> last listen error, so a port that stays busy is logged once, not every resync. */
  private readonly listenErrors = new Map<number, string>();
  private accepting = true;
  private readonly sockets: PortSockets;

  /** `socketsArrived`: the agent's answer came after its run went on; a run then opens what it sent. */
  constructor(
    private readonly ctx: ListenerContext,
    source: ListenerSource,
    private readonly logger: Logger,
    socketsArrived: () => void,
  ) {
    this.sockets = new PortSockets(source, SOCKETS_WAIT_MS, socketsArrived);
  }

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

  /** Port -> descriptor of every listening socket held (the ones kept for the next run too), for the handback to a restarted agent. */
  inventory(): Map<number, number> {
    const held = this.sockets.held();
    for (const listener of this.listeners.values()) {
      const fd = listener.fd;
      if (fd !== null) held.set(listener.currentRoute.listenPort, fd);
    }
    return held;
  }

  /**
   * Lets go of the listeners on `ports` (the agent refused them back: forwarder-side they would be
   * the port's only socket), their connections included, so that the next apply asks the agent for
   * each port anew. Returns how many there were.
   */
  dropListeners(ports: readonly number[]): number {
    const dropped = new Set(ports);
    this.sockets.drop(dropped);
    let count = 0;
    for (const [id, listener] of this.listeners) {
      if (!dropped.has(listener.currentRoute.listenPort)) continue;
      listener.close();
      this.listeners.delete(id);
      count++;
    }
    return count;
  }

  /**
   * After a change of the destination policy: closes the warm connections to proxies it now
   * refuses and ends the live connections it refuses (MappingListener.enforceDestinations).
   */
  enforceDestinations(): void {
    const pools = this.ctx.warmPools?.recheckProxies(this.ctx.destinations.checkProxyAddress) ?? 0;
    if (pools > 0) this.logger.info('warm connections closed after the proxy-address policy changed (refused, or a proxy given by name)', { proxies: pools });
    let reset = 0;
    for (const listener of this.listeners.values()) reset += listener.enforceDestinations();
    if (reset > 0) this.logger.warn('live connections ended: the destination policy now refuses where they go', { connections: reset });
  }

  async apply(table: RouteTable): Promise<ApplyResult> {
    // Before anything else: a proxy marked down or changed keeps no warm connection a moment longer.
    this.ctx.warmPools?.retain(table.routes.values());
    const diff = diffRoutes(this.routes(), table.routes);
    // Closes first: a port moving from one mapping to another is free before it is opened again.
    for (const id of diff.close) {
      this.listeners.get(id)?.close();
      this.listeners.delete(id);
    }
    for (const { route, closeConnections } of diff.update) this.listeners.get(route.mappingId)?.update(route, closeConnections);
    // Draining: a mapping moved, disabled or deleted still has its relays cut (they would go on
    // through the old proxy until the deadline), and nothing is opened again.
    if (!this.accepting) return { opened: 0, closed: diff.close.length, updated: diff.update.length, failedMappings: [], pending: 0 };
    const failedMappings: number[] = [];
    const fail = (route: MappingRoute, message: string) => {
      failedMappings.push(route.mappingId);
      if (this.listenErrors.get(route.mappingId) !== message) {
        this.logger.error('cannot listen for mapping', { mappingId: route.mappingId, port: route.listenPort, error: message });
        this.listenErrors.set(route.mappingId, message);
      }
    };
    const sockets = await this.sockets.take(diff.open.map((route) => route.listenPort));
    let pending = 0;
    await Promise.all(
      diff.open.map(async (route) => {
        const socket = sockets.get(route.listenPort) ?? { reason: 'not asked' };
        // Neither opened nor failed: the run the agent's answer asks for opens it.
        if (socket === PENDING) return void pending++;
        if (!('fd' in socket)) return fail(route, `no listening socket from the agent: ${socket.reason}`);
        if (!this.accepting) return closeFd(socket.fd);
        const listener = new MappingListener(route, this.ctx);
        try {
          await listener.listen(socket.fd);
        } catch (error) {
          closeFd(socket.fd);
          return fail(route, (error as Error).message);
        }
        if (!this.accepting) return listener.close();
        if (this.listenErrors.delete(route.mappingId)) this.logger.info('listening again for mapping', { mappingId: route.mappingId });
        this.listeners.set(route.mappingId, listener);
      }),
    );
    for (const id of this.listenErrors.keys()) if (!table.routes.has(id)) this.listenErrors.delete(id);
    return { opened: diff.open.length - failedMappings.length - pending, closed: diff.close.length, updated: diff.update.length, failedMappings, pending };
  }

  /**
   * Graceful stop: no new connections, open relays may finish until the deadline, then the
   * rest is closed. Resolves once every connection is gone.
   */
  async drain(timeoutMs: number): Promise<{ remaining: number }> {
    this.accepting = false;
    this.sockets.close();
    this.ctx.warmPools?.close();
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
