import { type AgentStatusRecord, agentStatusKey, type EventBus, NODE_FORGET_MS, NODES_KEY, STATUS_TTL_S } from '@pgw/events';
import type { Logger } from '@pgw/log';
import type { PolicyClient } from '@pgw/domain';
import type { Redis } from 'ioredis';
import type { ReconcileOutcome } from './ruleset/reconciler.js';
import type { QuotaReport } from './shaping/shaper.js';

const REFRESH_MS = 20_000;

/**
 * `shaping`: why the rate limits or the quota tables are not in force (Shaper.problem), null when
 * they are; the guard not covering the LAN in force (PolicyBuild.guardRefused); all.route_localnet
 * opening the LAN to 127.0.0.0/8 (PolicyBuild.localnetRefused). Each is said
 * in `error` (the dashboard shows it), while `ok` stays the ruleset's (the console reads it as
 * whether the mappings are applied, which they are).
 */
export function agentStatus(outcome: ReconcileOutcome, at: Date, overQuota: QuotaReport = new Map(), shaping: string | null = null): AgentStatusRecord {
  const clients = outcome.build?.policy.clients ?? [];
  const quotaExceeded = Object.fromEntries(
    clients.flatMap((c) => {
      const q = overQuota.get(c.mappingId);
      return q ? [[c.ip, { mappingId: c.mappingId, quotaBytes: q.bytes, usedBytes: q.used }]] : [];
    }),
  );
  const guard = outcome.build?.guardRefused;
  const localnet = outcome.build?.localnetRefused;
  const errors = [
    ...outcome.errors.map((e) => `${e.cause}: ${e.message}`),
    ...(shaping === null ? [] : [`shaping: ${shaping}`]),
    ...(guard ? [`guard: ${guard.reason}`] : []),
    ...(localnet ? [`route_localnet: ${localnet.reason}`] : []),
  ];
  return {
    ok: outcome.ok,
    at: at.toISOString(),
    durationMs: Math.round(outcome.durationMs * 10) / 10,
    appliedMappings: clients.filter((c) => c.blocked === null && !(c.ip in quotaExceeded)).length,
    // Another block reason comes first: the client would get nothing even with quota left.
    blocked: Object.fromEntries(clients.flatMap((c) => (c.blocked !== null ? [[c.ip, c.blocked]] : c.ip in quotaExceeded ? [[c.ip, 'quota_exceeded']] : []))),
    rejected: [...(outcome.build?.rejected ?? [])],
    refusals: outcome.refusals.map((r) => ({ subject: r.subject, reason: r.reason })),
    quotaExceeded,
    // Absent when no client is on a backup, like a record written before fail policies.
    ...onBackupOf(clients),
    error: errors.length === 0 ? null : errors.join('; '),
  };
}

/** Effective clients on a backup proxy (issue 17): IP -> that proxy. */
function onBackupOf(clients: readonly PolicyClient[]): Pick<AgentStatusRecord, 'onBackup'> {
  const entries = clients.flatMap((c) => (c.blocked === null && c.onBackup ? [[c.ip, c.proxyId] as const] : []));
  return entries.length > 0 ? { onBackup: Object.fromEntries(entries) } : {};
}

/** Whether the dashboard needs a new value: anything but the time and duration changed. */
function sameStatus(a: AgentStatusRecord, b: AgentStatusRecord): boolean {
  return JSON.stringify({ ...a, at: '', durationMs: 0 }) === JSON.stringify({ ...b, at: '', durationMs: 0 });
}

/**
 * Writes the status key (on change, and refreshed before its TTL runs out) and publishes
 * agent.reconciled after a run that changed something, and when runs start or stop failing or fail
 * otherwise (a failure that lasts is told once). Redis being down is logged,
 * never fatal: enforcement does not depend on it.
 */
export class StatusReporter {
  private last: AgentStatusRecord | null = null;
  private lastWriteAt = 0;
  private lastOutcome: ReconcileOutcome | null = null;
  private overQuota: QuotaReport = new Map();
  private shaping: string | null = null;
  /** The failure the last agent.reconciled notice told (null: it told success, or none was sent; undefined: its publish failed). */
  private toldFailure: string | null | undefined = null;
  /** This node's key (one definition, with the record's schema, in @pgw/events). */
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly node: string,
  ) {
    this.key = agentStatusKey(node);
  }

  /** The quota poll's finding; a change is written at once (the client's block is already the kernel's). */
  setOverQuota(overQuota: QuotaReport): void {
    const key = (m: QuotaReport) => [...m.keys()].sort().join(',');
    const changed = key(overQuota) !== key(this.overQuota);
    this.overQuota = overQuota;
    if (changed && this.lastOutcome) this.report({ ...this.lastOutcome, trigger: 'quota', mode: 'delta' });
  }

  /** The shaper's finding after each sync (Shaper.problem); a change is written at once. */
  setShaping(problem: string | null): void {
    const changed = problem !== this.shaping;
    this.shaping = problem;
    if (changed && this.lastOutcome) this.report(this.lastOutcome);
  }

  report(outcome: ReconcileOutcome): void {
    this.lastOutcome = outcome;
    const status: AgentStatusRecord = { ...agentStatus(outcome, new Date(), this.overQuota, this.shaping), node: this.node };
    const now = Date.now();
    if (this.last === null || !sameStatus(this.last, status) || now - this.lastWriteAt >= REFRESH_MS) {
      this.lastWriteAt = now;
      this.last = status;
      // The node list remembers this node past its record's TTL: a node that went down is shown down, not forgotten.
      this.redis
        .pipeline()
        .set(this.key, JSON.stringify(status), 'EX', STATUS_TTL_S)
        .zadd(NODES_KEY, now, this.node)
        .zremrangebyscore(NODES_KEY, '-inf', now - NODE_FORGET_MS)
        .exec()
        .then((results) => {
          const failed = results?.find(([error]) => error !== null)?.[0];
          if (failed) throw failed;
        })
        .catch((error: Error) => {
          this.lastWriteAt = 0;
          this.logger.warn('cannot write agent status to Redis', { error: error.message });
        });
    }
    // A run that changed something, and every change of failure (a new one, another, recovery):
    // one that lasts is told once, not at every resync (every 2 s it filled each console's live
    // feed and made each console reload its tables).
    const failure = outcome.ok ? null : (status.error ?? 'failed');
    const failureChanged = failure !== this.toldFailure;
    this.toldFailure = failure;
    if (outcome.mode !== 'none' || failureChanged) {
      this.bus
        .publish({
          type: 'agent.reconciled',
          ok: status.ok,
          durationMs: status.durationMs,
          appliedMappings: status.appliedMappings,
          blockedClients: Object.keys(status.blocked).length,
          error: status.error,
        })
        .catch((error: Error) => {
          // Not told: the next run tells it again.
          this.toldFailure = undefined;
          this.logger.warn('cannot publish agent.reconciled', { error: error.message });
        });
    }
  }
}
