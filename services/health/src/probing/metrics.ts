import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ProbeResultLabel } from './probe.js';

/** Names fixed by the contracts (alert rules depend on them). `proxy` is the proxy id: stable across renames. */
export interface HealthMetrics {
  readonly proxyUp: Gauge<'proxy'>;
  readonly proxyLatencyMs: Gauge<'proxy'>;
  readonly exitIpAlarm: Gauge<'proxy' | 'kind'>;
  readonly probeDuration: Histogram;
  readonly probes: Counter<'result'>;
  readonly checkTargetSuspected: Gauge;
  readonly livenessLosses: Counter<'reason'>;
}

export function createHealthMetrics(registry: Registry): HealthMetrics {
  return {
    proxyUp: new Gauge({ name: 'pgw_proxy_up', help: '1 while the proxy is up, 0 while down or unknown (fail closed)', labelNames: ['proxy'], registers: [registry] }),
    proxyLatencyMs: new Gauge({
      name: 'pgw_proxy_latency_ms',
      help: 'Latency of the last successful probe through the proxy (dial + check URL answer)',
      labelNames: ['proxy'],
      registers: [registry],
    }),
    exitIpAlarm: new Gauge({
      name: 'pgw_proxy_exit_ip_alarm',
      help: "1 while the proxy's last exit IP raises the alarm: kind gateway_address (the gateway's own address: the proxy does not proxy), proxy_address (the address the proxy is dialed at, for a proxy set to exit elsewhere) or shared (another proxy has the same exit IP)",
      labelNames: ['proxy', 'kind'],
      registers: [registry],
    }),
    probeDuration: new Histogram({
      name: 'pgw_health_probe_duration_seconds',
      help: 'Duration of probes, successful or not',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    probes: new Counter({ name: 'pgw_health_probes_total', help: 'Probes by result (ok or the failure reason)', labelNames: ['result'], registers: [registry] }),
    checkTargetSuspected: new Gauge({
      name: 'pgw_health_check_target_suspected',
      help: '1 while the check URL fails through every recently probed proxy (the target, not the proxies, is the likely problem)',
      registers: [registry],
    }),
    livenessLosses: new Counter({
      name: 'pgw_health_liveness_losses_total',
      help: 'Proxies seen dead by their idle liveness connection, by what was seen (refused, closed, silent, connect_timeout, connect_failed)',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}

export function countProbe(metrics: HealthMetrics, result: ProbeResultLabel, seconds: number): void {
  metrics.probes.inc({ result });
  metrics.probeDuration.observe(seconds);
}
