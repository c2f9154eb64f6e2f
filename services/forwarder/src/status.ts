/** The `pgw:forwarder:status` value the api shows on its dashboard (contracts.md). */
export interface ForwarderStatus {
  readonly at: string;
  readonly activeConnections: number;
  readonly perMapping: Record<string, number>;
  readonly listeners: number;
  /** Connections refused by the destination policy since the forwarder started, by reason. */
  readonly refused: Record<string, number>;
}

export const FORWARDER_STATUS_KEY = 'pgw:forwarder:status';
export const FORWARDER_STATUS_TTL_S = 60;

export function buildStatus(
  now: Date,
  activeConnections: number,
  perMapping: Iterable<readonly [number, number]>,
  refused: Iterable<readonly [string, number]> = [],
): ForwarderStatus {
  const counts: Record<string, number> = {};
  let listeners = 0;
  for (const [mappingId, active] of perMapping) {
    counts[String(mappingId)] = active;
    listeners++;
  }
  return { at: now.toISOString(), activeConnections, perMapping: counts, listeners, refused: Object.fromEntries(refused) };
}
