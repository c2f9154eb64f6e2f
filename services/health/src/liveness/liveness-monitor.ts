import { endpointLabel, parsePort, type ProxyProtocol } from '@pgw/domain';
import { guardedLookup, type ProxyAddressCheck } from '@pgw/dialers';
import type { Logger } from '@pgw/log';
import type { Counter } from 'prom-client';
import { DEFAULT_LIVENESS_TIMINGS, type LivenessLoss, LivenessWatch, type LivenessTimings } from './liveness-watch.js';

export interface WatchedProxy {
  readonly id: number;
  readonly protocol: ProxyProtocol;
  readonly host: string;
  readonly port: number;
}

export interface LivenessActions {
  /** The proxy at the watched address is dead beyond doubt (refused, reset, silent): record a failure now, unless it is already down or has moved. */
  recordLoss(watched: WatchedProxy, detail: string): Promise<void>;
  /** Not certain (a slow connect) or alive again: let a full layer-7 probe decide. */
  probeNow(proxyId: number): void;
  /** The probe's proxy-address check: a proxy name is watched only at addresses a proxy may be. */
  readonly checkProxyAddress?: ProxyAddressCheck;
}

/**
 * One LivenessWatch per proxy endpoint, kept in step with the proxy list. This is the fast path
 * of the kill switch for idle clients; the periodic layer-7 probe still owns status, latency
 * and exit IP, and is what brings a proxy back up.
 */
export class LivenessMonitor {
  private readonly watches = new Map<number, LivenessWatch>();

  constructor(
    private readonly actions: LivenessActions,
    private readonly logger: Logger,
    private readonly losses: Counter<'reason'>,
    private readonly timings: LivenessTimings = DEFAULT_LIVENESS_TIMINGS,
  ) {}

  sync(proxies: readonly WatchedProxy[]): void {
    const present = new Set<number>();
    for (const proxy of proxies) {
      present.add(proxy.id);
      const watch = this.watches.get(proxy.id);
      if (watch !== undefined && watch.host === proxy.host && watch.port === proxy.port) continue;
      watch?.stop();
      const fresh = new LivenessWatch(proxy.host, proxy.port, {
        lost: (loss, detail, repeated) => this.lost(proxy, loss, detail, repeated),
        restored: () => this.actions.probeNow(proxy.id),
      }, this.timings, this.actions.checkProxyAddress && guardedLookup(this.actions.checkProxyAddress));
      this.watches.set(proxy.id, fresh);
      fresh.start();
    }
    for (const [id, watch] of this.watches) {
      if (present.has(id)) continue;
      watch.stop();
      this.watches.delete(id);
    }
  }

  stop(): void {
    for (const watch of this.watches.values()) watch.stop();
    this.watches.clear();
  }

  private lost(proxy: WatchedProxy, loss: LivenessLoss, detail: string, repeated: boolean): void {
    const proxyId = proxy.id;
    if (!repeated) this.losses.inc({ reason: loss });
    if (loss === 'connect_timeout') {
      if (repeated) return;
      this.logger.info('liveness: slow TCP connect to the proxy; probing now', { proxyId, detail });
      this.actions.probeNow(proxyId);
      return;
    }
    if (!repeated) this.logger.warn('liveness: proxy lost', { proxyId, loss, detail });
    // Worded like the dialers' errors: the endpoint first, so the console's error names the proxy.
    this.actions.recordLoss(proxy, `${endpointLabel({ protocol: proxy.protocol, host: proxy.host, port: parsePort(proxy.port) })} (liveness): ${detail}`).catch((error: Error) => {
      // Postgres down: the probe path (run locally when Redis is down too) tries again.
      this.logger.warn('liveness: cannot record the loss; probing instead', { proxyId, error: error.message });
      this.actions.probeNow(proxyId);
    });
  }
}
