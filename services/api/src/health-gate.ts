import type { ProbeResult } from '@pgw/events';
import type { ApiContext } from './context.js';
import { ApiError } from './http/api-error.js';
import { loadSettings } from './repositories/settings.js';

/**
 * The mapping health gate: probe the proxy through the health service before a mapping may use it.
 * A failed probe is a 422 carrying the probe's own error; the caller stores nothing.
 */
export async function requireHealthyProxy(ctx: ApiContext, proxy: { id: number; name: string }): Promise<ProbeResult> {
  const settings = await loadSettings(ctx.db);
  const result = await ctx.probes.probe(proxy.id, settings.probeTimeoutMs + ctx.probeWaitMarginMs);
  if (!result.ok) {
    throw new ApiError(422, 'probe_failed', `proxy "${proxy.name}" failed its health check: ${result.error ?? 'no error reported'}`, 'proxyId', { probe: result });
  }
  return result;
}
