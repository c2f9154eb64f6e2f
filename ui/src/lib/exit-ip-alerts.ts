import type { LiveEvent } from '../api/types.js';

export type ExitIpAlert = Extract<LiveEvent, { type: 'proxy.exit_ip_changed' }>;

/**
 * The banners after a change: newest first, one per proxy (a proxy that rotates again replaces its
 * banner, so a rotating upstream cannot stack them up), bounded so a farm of rotating proxies cannot.
 */
export function withExitIpAlert(alerts: readonly ExitIpAlert[], event: ExitIpAlert, max = 5): ExitIpAlert[] {
  return [event, ...alerts.filter((a) => a.proxyId !== event.proxyId)].slice(0, max);
}
