import type { ForwarderStatusRecord } from '@pgw/events/contracts';

/** The `pgw:forwarder:status:<node>` record the api shows on its dashboard, as @pgw/events defines it. */
export function buildStatus(
  now: Date,
  activeConnections: number,
  perMapping: Iterable<readonly [number, number]>,
  refused: Iterable<readonly [string, number]> = [],
): ForwarderStatusRecord {
  const counts: Record<string, number> = {};
  let listeners = 0;
  for (const [mappingId, active] of perMapping) {
    counts[String(mappingId)] = active;
    listeners++;
  }
  return { at: now.toISOString(), activeConnections, perMapping: counts, listeners, refused: Object.fromEntries(refused) };
}
