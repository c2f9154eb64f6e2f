/** The fields of a mapping that decide where and whether its client's traffic flows. */
export interface GatedFields {
  readonly enabled: boolean;
  readonly clientIp: string;
  readonly proxyId: number;
  /** null: allocated when written. */
  readonly listenPort: number | null;
}

/**
 * A new mapping, or an edit that changes where or whether traffic flows, needs a healthy proxy (the
 * health gate); a description, a limit or a disable does not. `before`: null for a new mapping.
 */
export function needsProbe(before: GatedFields | null, after: GatedFields): boolean {
  if (!after.enabled) return false;
  return before === null || !before.enabled || before.clientIp !== after.clientIp || before.proxyId !== after.proxyId || before.listenPort !== after.listenPort;
}
