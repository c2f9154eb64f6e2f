/**
 * bench:rtt's read of how long the forwarder takes to open a warm connection to each proxy: its
 * gauge pgw_forwarder_warm_setup_seconds (per proxy, smoothed) from its metrics text, in ms.
 */
import { metricSamples } from '../../support/prometheus-text.js';

/** Proxy id -> setup ms; proxies without a pool or without an open yet are absent. */
export function parseWarmSetupMs(metrics: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const { labels, value } of metricSamples(metrics, 'pgw_forwarder_warm_setup_seconds')) {
    const proxy = Number(labels.proxy);
    if (Number.isInteger(proxy) && Number.isFinite(value)) out.set(proxy, value * 1000);
  }
  return out;
}
