/**
 * Pure reading of `nft monitor` (text mode) for the self-heal: lines are grouped into
 * transactions, each closed by its generation line (`# new generation N by process PID (comm)`),
 * and each transaction is summed up as what it did to the two tables the agent keeps in force.
 * Text mode, not `-j`: nft 1.0.6 prints the generation line (the transaction boundary and the
 * writer's pid) only in text mode.
 */

/** The tables restored by the self-heal, all in family inet. */
export const WATCHED = { guard: 'pgw_guard', pgw: 'pgw' } as const;
export type WatchedTable = keyof typeof WATCHED;
/** Also seen in transactions: tables inet pgw_quota and pgw_acct, which the shaper heals apart from the plan below (issue 16). */
export const MONITORED = { ...WATCHED, quota: 'pgw_quota', acct: 'pgw_acct' } as const;
export type MonitoredTable = keyof typeof MONITORED;

/**
 * The agent's readiness marker: a table created and deleted in one transaction (never visible to
 * packets). Seeing it proves the monitor is subscribed, and its pid tells whether the kernel's pids
 * are the agent's (false in a container with its own pid namespace).
 */
export const PROBE_TABLE = 'pgw_agent_probe';

/**
 * What one transaction did to a watched table. removed: it is gone; replaced: it was (re)created
 * whole in this transaction (the agent's and the guard loader's own shape); edited: chains, rules,
 * sets or elements changed inside it.
 */
export type TableChange = 'removed' | 'replaced' | 'edited';

export interface NftTransaction {
  readonly generation: number;
  /** The writer's pid as the kernel reports it (its own pid namespace's view); null when not printed. */
  readonly pid: number | null;
  readonly process: string | null;
  readonly changes: ReadonlyMap<MonitoredTable, TableChange>;
  /** Whether the agent's readiness marker table appeared in it. */
  readonly probe: boolean;
}

const GENERATION = /^# new generation (\d+)(?: by process (\d+) \((.*)\))?\s*$/;
// `add chain inet pgw from_lan`, `delete element inet pgw lan_mapped { ... }`, `add ct helper inet t h`.
const EVENT = /^(add|create|insert|delete|destroy|update|replace|flush|reset) (?:ct helper|ct timeout|ct expectation|(\S+)) (\S+) (\S+)/;

interface TableTrace {
  /** The last table-level event: add or delete (null: only objects inside it changed). */
  lastTable: 'add' | 'delete' | null;
  recreated: boolean;
}

/** Feed it `nft monitor` lines in order; it returns each transaction once its generation line arrives. */
export class NftMonitorParser {
  private traces = new Map<MonitoredTable, TableTrace>();
  private probe = false;

  line(text: string): NftTransaction | null {
    const generation = GENERATION.exec(text);
    if (generation) return this.close(generation);
    const event = EVENT.exec(text);
    if (!event) return null;
    const [, verb, object, family, table] = event;
    if (family !== 'inet') return null;
    if (object === 'table' && table === PROBE_TABLE) {
      this.probe = true;
      return null;
    }
    const watched = watchedName(table!);
    if (!watched) return null;
    const trace = this.traces.get(watched) ?? { lastTable: null, recreated: false };
    if (object === 'table') {
      trace.lastTable = verb === 'delete' || verb === 'destroy' ? 'delete' : 'add';
      if (trace.lastTable === 'add') trace.recreated = true;
    }
    this.traces.set(watched, trace);
    return null;
  }

  private close(match: RegExpExecArray): NftTransaction {
    const changes = new Map<MonitoredTable, TableChange>();
    for (const [table, trace] of this.traces) {
      changes.set(table, trace.lastTable === 'delete' ? 'removed' : trace.recreated ? 'replaced' : 'edited');
    }
    const transaction = {
      generation: Number(match[1]),
      pid: match[2] === undefined ? null : Number(match[2]),
      process: match[3] ?? null,
      changes,
      probe: this.probe,
    };
    this.traces = new Map();
    this.probe = false;
    return transaction;
  }
}

function watchedName(table: string): MonitoredTable | null {
  for (const [key, name] of Object.entries(MONITORED) as [MonitoredTable, string][]) if (name === table) return key;
  return null;
}

/** none < verify (inet pgw: restore only when the kernel differs from what is in force) < restore (the guard: loaded again from its file). */
export type HealAction = 'none' | 'verify' | 'restore';
export type HealPlan = Readonly<Record<WatchedTable, HealAction>>;
export const NO_HEAL: HealPlan = { guard: 'none', pgw: 'none' };

/**
 * What to do after a transaction. Own transactions (the agent's nft, known by pid) need nothing.
 * For the others:
 * - removed: restore (nothing the agent does removes a table without re-creating it);
 * - guard replaced: a whole load of the static table by its loader (boot, `systemctl reload
 *   pgw-guard`, or the agent itself): left as loaded;
 * - guard edited: restore (its loaders never edit it in place);
 * - inet pgw replaced: verify, so two writers of the same state (an agent restarting) never
 *   trade restores;
 * - inet pgw edited: restore; verify when the writer is unknown (pids not comparable), because
 *   then the edit may be the agent's own element delta.
 */
export function planHeal(transaction: NftTransaction, writer: 'own' | 'foreign' | 'unknown'): HealPlan {
  if (writer === 'own') return NO_HEAL;
  const guard = transaction.changes.get('guard');
  const pgw = transaction.changes.get('pgw');
  return {
    guard: guard === 'removed' || guard === 'edited' ? 'restore' : 'none',
    pgw: pgw === undefined ? 'none' : pgw === 'removed' ? 'restore' : pgw === 'replaced' ? 'verify' : writer === 'foreign' ? 'restore' : 'verify',
  };
}

const RANK: Record<HealAction, number> = { none: 0, verify: 1, restore: 2 };

/** Coalesces two plans: the stronger action per table. */
export function mergePlans(a: HealPlan, b: HealPlan): HealPlan {
  return { guard: RANK[a.guard] >= RANK[b.guard] ? a.guard : b.guard, pgw: RANK[a.pgw] >= RANK[b.pgw] ? a.pgw : b.pgw };
}

export function needsHeal(plan: HealPlan): boolean {
  return plan.guard !== 'none' || plan.pgw !== 'none';
}

/**
 * Pids of the agent's own nft writers, each with the number of its transactions not yet seen (the
 * long-running `nft -i` of the deltas writes many under one pid). A transaction seen uses one up;
 * a pid is forgotten when none is left, or `ttlMs` after its last write (an nft that failed commits
 * nothing), so a later process reusing it is foreign.
 */
export class OwnWriters {
  private readonly pids = new Map<number, { pending: number; expires: number }>();

  constructor(
    private readonly now: () => number,
    private readonly ttlMs = 10_000,
  ) {}

  add(pid: number): void {
    this.pids.set(pid, { pending: (this.pids.get(pid)?.pending ?? 0) + 1, expires: this.now() + this.ttlMs });
  }

  /** Whether pid is one of ours with a transaction not yet seen; that transaction is used up by this call. */
  claim(pid: number): boolean {
    const now = this.now();
    for (const [known, { expires }] of this.pids) if (expires < now) this.pids.delete(known);
    const entry = this.pids.get(pid);
    if (entry === undefined) return false;
    if (--entry.pending === 0) this.pids.delete(pid);
    return true;
  }
}
