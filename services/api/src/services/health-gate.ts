import type { ProbeResult } from '@pgw/events';
import { DomainError } from '../logic/domain-errors.js';
import type { Prober } from './ports.js';

/**
 * The mapping health gate: probe the proxy through the health service before a mapping may use it.
 * A failed probe carries the probe's own error; the caller stores nothing.
 */
export async function requireHealthyProxy(prober: Prober, proxy: { id: number; name: string }, timeoutMs: number): Promise<ProbeResult> {
  const result = await prober.probe(proxy.id, timeoutMs);
  if (!result.ok) {
    throw new DomainError('probe_failed', `proxy "${proxy.name}" failed its health check: ${result.error ?? 'no error reported'}`, 'proxyId', { probe: result });
  }
  return result;
}
