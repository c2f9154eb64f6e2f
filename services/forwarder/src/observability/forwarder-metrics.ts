import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ConnectionLimits } from '../tcp/connection-limits.js';
import type { Forwarder } from '../tcp/forwarder.js';
import type { ForwarderStats } from '../tcp/forwarder-stats.js';
import type { WarmPools } from '../tcp/warm-pools.js';

/** Upstream dial latency buckets, from a lab LAN proxy (sub-millisecond) to the connect timeout. */
const CONNECT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ForwarderMetrics {
  connectObserver(proxyId: number): (seconds: number) => void;
  /** Drops the latency series of proxies no mapping uses any more. */
  retainProxies(proxyIds: ReadonlySet<number>): void;
}

/**
 * The contract's metric names. Counts live in plain fields (ForwarderStats, listeners) and are
 * copied in at scrape time; only the latency histogram is observed per dial.
 */
export function registerForwarderMetrics(registry: Registry, stats: ForwarderStats, limits: ConnectionLimits, forwarder: Forwarder, warmPools: Pick<WarmPools, 'stats'> | null): ForwarderMetrics {
  new Gauge({
    name: 'pgw_forwarder_active_connections',
    help: 'Relayed connections open now (dials in flight included), per mapping',
    labelNames: ['mapping'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [id, listener] of forwarder.perMapping()) this.set({ mapping: String(id) }, listener.activeConnections);
    },
  });
  new Counter({
    name: 'pgw_forwarder_connections_total',
    help: 'Connections accepted on mapping ports (refused ones included)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.connectionsTotal);
    },
  });
  // Never below what was reported: a removed mapping's listener leaves the map at once, and its
  // relays' bytes reach the closed totals when they are released, a loop turn or more later. A
  // counter that went down meanwhile would read as a restart (rate() counting the whole total again).
  const reported: [number, number] = [0, 0];
  new Counter({
    name: 'pgw_forwarder_bytes_total',
    help: 'Bytes relayed; direction up = client to upstream, down = upstream to client',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const totals: [number, number] = [stats.closedBytesUp, stats.closedBytesDown];
      for (const listener of forwarder.perMapping().values()) listener.addLiveBytes(totals);
      reported[0] = Math.max(reported[0], totals[0]);
      reported[1] = Math.max(reported[1], totals[1]);
      this.reset();
      this.inc({ direction: 'up' }, reported[0]);
      this.inc({ direction: 'down' }, reported[1]);
    },
  });
  new Counter({
    name: 'pgw_forwarder_relays_total',
    help: 'Relays started, by where their bytes move: splice (the kernel, splice(2)) or js (through the forwarder: PGW_FORWARDER_RELAY=js, or a connection the kernel relay declined)',
    labelNames: ['relay'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [relay, count] of Object.entries(stats.relays)) this.inc({ relay }, count);
    },
  });
  new Counter({
    name: 'pgw_forwarder_failures_total',
    help: 'Connections not relayed, by reason (refusals before the dial and dial failures)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of stats.failures) this.inc({ reason }, count);
    },
  });
  new Counter({
    name: 'pgw_forwarder_refused_total',
    help: 'Connections refused by the destination policy (at accept, or live and ended when the policy tightened), by reason: destination_<class> (loopback, link_local, gateway, lan, private, ...) or proxy_<class> (a proxy at such an address)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of stats.refusals) this.inc({ reason }, count);
    },
  });
  new Gauge({
    name: 'pgw_forwarder_max_connections',
    help: 'The configured global relay limit (PGW_MAX_CONNECTIONS)',
    registers: [registry],
  }).set(limits.maxGlobal);
  new Gauge({
    name: 'pgw_forwarder_listeners',
    help: 'Mapping ports listening now',
    registers: [registry],
    collect() {
      this.set(forwarder.listenerCount);
    },
  });
  new Gauge({
    name: 'pgw_forwarder_warm_connections',
    help: 'Warm connections waiting for a CONNECT (TCP, and for SOCKS5 greeting and auth, done), per proxy',
    labelNames: ['proxy'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [proxyId, { idle }] of warmPools?.stats() ?? []) this.set({ proxy: String(proxyId) }, idle);
    },
  });
  new Counter({
    name: 'pgw_forwarder_warm_takes_total',
    help: 'Warm connections taken for a client, per proxy, by outcome: used (the CONNECT went over it) or stale (the proxy had closed it: the client was dialed anew)',
    labelNames: ['proxy', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [proxyId, { used, stale }] of warmPools?.stats() ?? []) {
        this.inc({ proxy: String(proxyId), outcome: 'used' }, used);
        this.inc({ proxy: String(proxyId), outcome: 'stale' }, stale);
      }
    },
  });
  new Gauge({
    name: 'pgw_forwarder_warm_setup_seconds',
    help: 'How long opening a warm connection to the proxy takes (TCP, greeting and auth; smoothed): what one saves a client',
    labelNames: ['proxy'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [proxyId, { setupMs }] of warmPools?.stats() ?? []) if (setupMs !== null) this.set({ proxy: String(proxyId) }, setupMs / 1000);
    },
  });
  const connectSeconds = new Histogram({
    name: 'pgw_forwarder_upstream_connect_seconds',
    help: 'Time to a relay-ready upstream: TCP connect to the proxy plus its handshake, per proxy',
    labelNames: ['proxy'],
    buckets: CONNECT_BUCKETS,
    registers: [registry],
  });
  const observers = new Map<number, (seconds: number) => void>();
  return {
    connectObserver(proxyId) {
      let observe = observers.get(proxyId);
      if (observe === undefined) {
        const child = connectSeconds.labels({ proxy: String(proxyId) });
        observe = (seconds) => child.observe(seconds);
        observers.set(proxyId, observe);
      }
      return observe;
    },
    retainProxies(proxyIds) {
      for (const id of observers.keys()) {
        if (!proxyIds.has(id)) {
          observers.delete(id);
          connectSeconds.remove({ proxy: String(id) });
        }
      }
    },
  };
}
