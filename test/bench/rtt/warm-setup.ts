/**
 * bench:rtt's read of how long the forwarder takes to open a warm connection to each proxy: its
 * gauge pgw_forwarder_warm_setup_seconds (per proxy, smoothed) from its metrics text, in ms.
 */

const LINE = /^pgw_forwarder_warm_setup_seconds\{([^}]*)\}\s+(\S+)$/;

/** Proxy id -> setup ms; proxies without a pool or without an open yet are absent. */
export function parseWarmSetupMs(metrics: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of metrics.split('\n')) {
    const match = LINE.exec(line.trim());
    if (match === null) continue;
    const proxy = Number(/(?:^|,)proxy="([^"]*)"/.exec(match[1]!)?.[1]);
    const seconds = Number(match[2]);
    if (Number.isInteger(proxy) && Number.isFinite(seconds)) out.set(proxy, seconds * 1000);
  }
  return out;
}
