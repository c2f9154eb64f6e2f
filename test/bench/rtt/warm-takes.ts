/**
 * bench:rtt's check that the "pgw warm" rows rode warm connections: the forwarder's counter
 * pgw_forwarder_warm_takes_total (per proxy, outcome used | stale) read from its metrics text.
 * A client connection that found no warm connection ready is in neither count (it dialed cold).
 */
import { metricSamples } from '../../support/prometheus-text.js';

export interface WarmTakes {
  used: number;
  stale: number;
}

/** Proxy id -> takes, from Prometheus text exposition; proxies without a pool are absent. */
export function parseWarmTakes(metrics: string): Map<number, WarmTakes> {
  const out = new Map<number, WarmTakes>();
  for (const { labels, value } of metricSamples(metrics, 'pgw_forwarder_warm_takes_total')) {
    const proxy = Number(labels.proxy);
    if (!Number.isInteger(proxy) || !Number.isFinite(value) || (labels.outcome !== 'used' && labels.outcome !== 'stale')) continue;
    const takes = out.get(proxy) ?? { used: 0, stale: 0 };
    takes[labels.outcome] += value;
    out.set(proxy, takes);
  }
  return out;
}
