/**
 * Start-up milestones of the pgw services, read from their JSON log lines (winston: ISO timestamp,
 * message, fields). Pure: the caller reads the log files. Used by the reboot and restart benches
 * to say where the time between "services started" and "clients work" goes.
 */

export interface LogEntry {
  /** Date.parse of the line's timestamp. */
  at: number;
  message: string;
  fields: Record<string, unknown>;
}

/** JSON log lines at or after sinceMs; other lines (a stack trace, a "cannot start" line) are skipped. */
export function parseLog(text: string, sinceMs: number): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const at = typeof record.timestamp === 'string' ? Date.parse(record.timestamp) : NaN;
    if (Number.isNaN(at) || at < sinceMs || typeof record.message !== 'string') continue;
    entries.push({ at, message: record.message, fields: record });
  }
  return entries;
}

export interface AgentMilestones {
  /**
   * The boot fast path put the state file in force (before the heavy modules load; the listener
   * socket is served right after it): ms since the origin, from the time the line states.
   */
  bootEnforcedMs: number | null;
  /** The full agent re-applied and verified that cached policy: ms since the origin, and the run's own duration. */
  cachedApplied: { atMs: number; runMs: number } | null;
  /** First run against Postgres finished (applied, already in force, or failed). */
  firstPostgresRun: { atMs: number; outcome: 'applied' | 'failed' } | null;
  /** Metrics/healthz server listening ("started"). */
  listeningMs: number | null;
}

export interface ForwarderMilestones {
  /** Its first apply opened listeners: when, and how many. */
  listenersOpen: { atMs: number; opened: number; failed: number } | null;
  /** "ready": listeners applied and metrics/healthz listening. */
  readyMs: number | null;
}

const since = (origin: number, entry: LogEntry | undefined) => (entry ? Math.round(entry.at - origin) : null);

export function agentMilestones(entries: LogEntry[], origin: number): AgentMilestones {
  const cached = entries.find((e) => e.message === 'ruleset applied' && e.fields.trigger === 'state_file');
  // The start run logs nothing when the cached ruleset already matches Postgres (mode none): then
  // the first resync or notice run that logs is the nearest bound, so only logged runs count.
  const firstRun = entries.find((e) => (e.message === 'ruleset applied' || e.message.startsWith('reconcile failed')) && e.fields.trigger !== 'state_file');
  const boot = entries.find((e) => e.message === 'state file enforced at boot' && typeof e.fields.enforcedAt === 'string');
  return {
    bootEnforcedMs: boot ? Math.round(Date.parse(boot.fields.enforcedAt as string) - origin) : null,
    cachedApplied: cached ? { atMs: since(origin, cached)!, runMs: Number(cached.fields.durationMs) } : null,
    firstPostgresRun: firstRun ? { atMs: since(origin, firstRun)!, outcome: firstRun.message === 'ruleset applied' ? 'applied' : 'failed' } : null,
    listeningMs: since(origin, entries.find((e) => e.message === 'started')),
  };
}

export function forwarderMilestones(entries: LogEntry[], origin: number): ForwarderMilestones {
  const applied = entries.find((e) => e.message === 'applied mappings');
  return {
    listenersOpen: applied ? { atMs: since(origin, applied)!, opened: Number(applied.fields.opened), failed: Number(applied.fields.failed) } : null,
    readyMs: since(origin, entries.find((e) => e.message === 'ready')),
  };
}

/** ms since origin of the first entry with this message (health: "health service started", api: "listening"). */
export function firstMessageMs(entries: LogEntry[], origin: number, message: string): number | null {
  return since(origin, entries.find((e) => e.message === message));
}
