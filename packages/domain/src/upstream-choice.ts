import { type ClientBlockReason, clientBlockReason } from './client-state.js';
import { DEFAULT_BACKUP_HOLD_DOWN_S, type MappingFailPolicy } from './fail-policy.js';
import type { Mapping } from './mapping.js';
import type { ProxyStatus } from './proxy.js';

/** What the choice needs of a proxy: its status and since when it holds it (ms, the caller's clock; null: not known). */
export interface UpstreamCandidate {
  readonly status: ProxyStatus;
  readonly statusSince: number | null;
}

export interface UpstreamChoice {
  /** The proxy the client dials through; the primary while blocked. */
  readonly proxyId: number;
  /** null: effective through proxyId. Otherwise the client gets nothing, for this reason (the primary's). */
  readonly blocked: ClientBlockReason | null;
  /** True when proxyId is one of the backups. */
  readonly onBackup: boolean;
  /** When this choice changes by time alone (a preferred proxy's hold-down ends), ms; null: only on new input. */
  readonly recheckAt: number | null;
}

/**
 * The one definition of which proxy a client uses (the agent's policy and the forwarder's dials
 * both call it, so they never disagree). Pure and without memory: stickiness comes from the
 * statuses' ages instead of a remembered choice, so a restarted agent or forwarder decides as
 * before.
 *
 * Candidates: the primary, then the backups in order (`closed`: the primary only). A candidate is
 * *settled* when it is up and has been for the hold-down. The client uses the first settled
 * candidate; when none is settled, the candidate that has been up longest (it is the one the
 * client has most likely been on). So a primary that comes back is used only after the hold-down,
 * a primary that flaps never settles, and each move is to a more preferred proxy that has been up
 * for the whole hold-down: no flapping. A single up candidate is used at once (better than
 * blocking). None up: blocked with the primary's reason — never direct.
 */
export function chooseUpstream(
  mapping: Pick<Mapping, 'enabled' | 'proxyId'> & MappingFailPolicy,
  proxyOf: (id: number) => UpstreamCandidate | undefined,
  now: number,
  holdDownMs: number,
): UpstreamChoice {
  // A proxy row that is gone is unknown: fail closed.
  const primary = proxyOf(mapping.proxyId) ?? { status: 'unknown', statusSince: null };
  const primaryBlock = clientBlockReason(mapping, primary.status);
  const blockedChoice = (reason: ClientBlockReason): UpstreamChoice => ({ proxyId: mapping.proxyId, blocked: reason, onBackup: false, recheckAt: null });
  if (primaryBlock === 'mapping_disabled') return blockedChoice(primaryBlock);
  const ids = mapping.failPolicy === 'backup' ? [mapping.proxyId, ...mapping.backupProxyIds.filter((id) => id !== mapping.proxyId)] : [mapping.proxyId];
  const up: { id: number; index: number; since: number }[] = [];
  ids.forEach((id, index) => {
    const proxy = id === mapping.proxyId ? primary : proxyOf(id);
    // Unknown age counts as up for ever: a status that has not changed within memory is settled.
    if (proxy?.status === 'up') up.push({ id, index, since: proxy.statusSince ?? Number.NEGATIVE_INFINITY });
  });
  if (up.length === 0) return blockedChoice(primaryBlock ?? 'proxy_unknown');
  const settled = up.find((c) => now - c.since >= holdDownMs);
  const chosen = settled ?? up.reduce((a, b) => (b.since < a.since ? b : a));
  // The choice changes by time alone when a more preferred up candidate settles.
  let recheckAt: number | null = null;
  for (const c of up) if (c.index < chosen.index && now - c.since < holdDownMs) recheckAt = Math.min(recheckAt ?? Infinity, c.since + holdDownMs);
  return { proxyId: chosen.id, blocked: null, onBackup: chosen.index > 0, recheckAt };
}

/**
 * chooseUpstream for every mapping of one snapshot: `proxies` as loaded (statusSince: ms on this
 * process's clock, absent or null: unknown), `now` once for all, so one build judges every client
 * at the same instant.
 */
export function upstreamChooser(
  proxies: readonly { readonly id: number; readonly status: ProxyStatus; readonly statusSince?: number | null }[],
  holdDownS: number | undefined,
  now: number,
): (mapping: Pick<Mapping, 'enabled' | 'proxyId' | 'failPolicy' | 'backupProxyIds'>) => UpstreamChoice {
  const byId = new Map<number, UpstreamCandidate>(proxies.map((p) => [p.id, { status: p.status, statusSince: p.statusSince ?? null }]));
  const proxyOf = (id: number) => byId.get(id);
  return (mapping) =>
    chooseUpstream({ enabled: mapping.enabled, proxyId: mapping.proxyId, failPolicy: mapping.failPolicy ?? 'closed', backupProxyIds: mapping.backupProxyIds ?? [] }, proxyOf, now, (holdDownS ?? DEFAULT_BACKUP_HOLD_DOWN_S) * 1000);
}
