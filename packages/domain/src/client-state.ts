import type { Mapping } from './mapping.js';
import type { ProxyStatus } from './proxy.js';

/**
 * Why a mapped client has no internet. Every state has a reason an operator can read.
 * port_refused: the agent refused to DNAT to the mapping's port (its status says why).
 * quota_exceeded: the kernel counted the mapping's byte quota used up (reported by the agent; reset by an operator).
 */
export const CLIENT_BLOCK_REASONS = ['mapping_disabled', 'proxy_down', 'proxy_unknown', 'port_refused', 'quota_exceeded'] as const;
export type ClientBlockReason = (typeof CLIENT_BLOCK_REASONS)[number];

/** Fail closed: a client is effective only when its mapping is enabled and its proxy is known up. */
export function clientBlockReason(mapping: Pick<Mapping, 'enabled'>, proxyStatus: ProxyStatus): ClientBlockReason | null {
  if (!mapping.enabled) return 'mapping_disabled';
  if (proxyStatus === 'down') return 'proxy_down';
  if (proxyStatus !== 'up') return 'proxy_unknown';
  return null;
}
