import type { GatewayPolicy, QuotaPeriod } from '@pgw/domain';
import type { ClientUsageSample } from '@pgw/events';
import { CoalescedRuns } from '@pgw/runtime';
import { execa } from 'execa';
import { quotaPeriodAt, type QuotaPeriodWindow, type QuotaSettings } from '../quota/quota-period.js';
import { storedQuotaCounts } from '../quota/quota-store.js';
import { type AccountingSet, type CountingTable, EMPTY_READING, type KernelCounter, parseQuotaTable, type QuotaObject, type QuotaTableReading, quotaExceeded, quotaName, quotaStem, quotasBelowSeed, quotaTableDrift, renderQuotaScript } from '../quota/quota-table.js';
import { isPgwQdisc, parseQdiscs, qdiscConflict } from './lan-qdiscs.js';
import { IFB_DEVICE, parseTcClasses, parseTcFilters, renderTcPlan, type TcPlan, tcShownKbit } from './render-shaping.js';

const TIMEOUT_MS = 10_000;
/** An unchanged tc plan or quota table is read back at most this often (a sync follows every run, once a second at rest). */
const VERIFY_EVERY_MS = 10_000;

export interface ShaperBins {
  readonly tc: string;
  readonly nft: string;
  readonly ip: string;
}

/** What the quota poll found: the mappings over quota (their client's packets are being dropped). */
export type QuotaReport = ReadonlyMap<number, QuotaObject>;

export interface ShaperDeps {
  readonly bins: ShaperBins;
  readonly onError: (error: Error) => void;
  /** Each nft writer's pid, so the self-heal knows the agent's own transactions on table inet pgw_quota. */
  readonly onWriter: (pid: number) => void;
  readonly now: () => number;
}

/**
 * Applies render-shaping's tc plan and quota-table's tables inet pgw_quota and inet pgw_acct in
 * the agent's namespace: tc (one `tc -batch`, after removing our qdiscs, only when the plan
 * changed; read back by class) and the tables (one nft transaction, only when the kernel differs
 * from the policy; the periodic check lists only the small quota table, the sample the other). Keeps
 * the last counts it read (`memory`): a quota object or counter another writer removed is created
 * again with them, never silently from zero. A quota object also never counts less than the stored
 * count (`seed`: what a node published before a reboot or failover). Writes run one at a time, the
 * newest policy waiting wins.
 */
export class Shaper {
  private appliedTc: string | null = null;
  /** A plan refused for another tool's qdisc on the LAN (qdiscConflict), when, and why. */
  private refusedPlan: { readonly key: string; readonly at: number; readonly error: Error } | null = null;
  /** The LAN interface pgw's qdiscs may be on from an earlier plan (the state file's at start): cleared of them when the LAN moves. */
  private tcLan: string | null = null;
  private tcVerifiedAt = 0;
  /** The quota part of the last policy checked against the kernel, and when. */
  private quotaChecked: { readonly key: string; readonly at: number } | null = null;
  /** The policy handed over and not applied yet (the newest of the syncs asked for meanwhile). */
  private next: { policy: GatewayPolicy; settings: QuotaSettings } | null = null;
  private readonly syncs = new CoalescedRuns(() => this.syncOnce());
  private lock: Promise<unknown> = Promise.resolve();
  private target: { policy: GatewayPolicy; settings: QuotaSettings } | null = null;
  private window: QuotaPeriodWindow | null = null;
  private windowZone = '';
  /** The heal asked for and not begun yet (the stronger of the requests meanwhile). */
  private healMode: 'verify' | 'restore' | null = null;
  /** The last heal's outcome, and how many heals restored the tables so far. */
  private healResult: 'restored' | 'intact' | 'idle' = 'idle';
  private healRestores = 0;
  private readonly heals = new CoalescedRuns(() => this.healOnce());
  /** The last counts read from the kernel (a full listing, quota counts also from each poll). */
  private memory: QuotaTableReading = EMPTY_READING;
  /** Every node's last published usage sample (quota-store.ts), read from Redis. */
  private stored: readonly ClientUsageSample[] = [];
  /** Counts known besides the stored ones: the state file's over-quota stems (heldQuotaCounts). */
  private held: ReadonlyMap<string, number> = new Map();

  /** What the last sync could not put in force, per part (the status shows it; logged by onError too). */
  private readonly problems = new Map<'quota' | 'tc', string>();
  /** The tc plan whose download limits alone were applied, for want of an IFB device, when, and why. */
  private withoutIfb: { readonly key: string; readonly at: number; readonly error: Error } | null = null;

  constructor(private readonly deps: ShaperDeps) {}

  /** Why the quota table or the rate limits of the last sync are not in force; null when both are. */
  get problem(): string | null {
    return this.problems.size === 0 ? null : [...this.problems].map(([part, message]) => `${part}: ${message}`).join('; ');
  }

  /** Converge tc and the quota table to this policy (coalesced; never throws, errors go to onError). */
  sync(policy: GatewayPolicy, settings: QuotaSettings): Promise<void> {
    this.next = { policy, settings };
    return this.syncs.request();
  }

  /** One sync, of the newest policy handed over; a sync asked for meanwhile runs after it. */
  private async syncOnce(): Promise<void> {
    const next = this.next;
    if (next === null) return;
    this.next = null;
    // Apart, the quota first: a byte quota is the kernel's own enforcement and must not wait on
    // the rate limits, whether tc fails (a missing ifb or htb module, a device gone) or hangs
    // until its timeouts; nor they on it.
    try {
      // The target moves under the write lock, with the window applyQuota moved: a seed judges both there.
      await this.exclusive(async () => {
        await this.applyQuota(next.policy, next.settings, false);
        this.target = next;
      });
      this.problems.delete('quota');
    } catch (error) {
      this.quotaChecked = null;
      this.fail('quota', error as Error);
    }
    try {
      await this.syncTc(next.policy);
      this.problems.delete('tc');
    } catch (error) {
      // No IFB: nothing of ours was removed, and the download plan applied instead is in force.
      if (!(error instanceof IfbUnavailable)) this.appliedTc = null;
      this.fail('tc', error as Error);
    }
  }

  /** A part not in force: reported (the status), and logged when its problem is new or another. */
  private fail(part: 'quota' | 'tc', error: Error): void {
    if (this.problems.get(part) !== error.message) this.deps.onError(error);
    this.problems.set(part, error.message);
  }

  /** The policy's tc plan in force; throws what keeps it from being (a plan that cannot be rendered, tc failing, no IFB). */
  private async syncTc(policy: GatewayPolicy): Promise<void> {
    const plan = renderTcPlan(policy);
    const key = JSON.stringify(plan);
    // The download limits alone are in force for this plan (no IFB): the IFB is tried again after
    // VERIFY_EVERY_MS, not at every sync.
    if (this.withoutIfb !== null && this.withoutIfb.key === key && this.deps.now() - this.withoutIfb.at < VERIFY_EVERY_MS) throw this.withoutIfb.error;
    this.withoutIfb = null;
    try {
      await this.applyTc(plan);
    } catch (error) {
      if (!(error instanceof IfbUnavailable)) throw error;
      // One client's upload limit must not cost every client its download limit: those need no IFB.
      // Nothing of ours was removed before the IFB failed, so a download plan in force stays untouched.
      await this.applyTc(renderTcPlan(policy, { upload: false }));
      this.withoutIfb = { key, at: this.deps.now(), error };
      throw error;
    }
  }

  /**
   * Counts the state file knew (quota object name -> bytes; heldQuotaCounts), kept for every later
   * apply like the stored ones: a quota object never counts less. Before the first sync.
   */
  hold(counts: ReadonlyMap<string, number>): void {
    this.held = counts;
  }

  /** The stored counts of `window` (every node's samples), raised to the held ones. */
  private knownCounts(window: QuotaPeriodWindow): Map<string, number> {
    const counts = storedQuotaCounts(this.stored, window);
    for (const [name, bytes] of this.held) counts.set(name, Math.max(counts.get(name) ?? 0, bytes));
    return counts;
  }

  /**
   * The stored counts arrived (at start, then every usage interval): kept for every later apply,
   * and a quota object now counting less than its stored count is raised at once. That is a
   * restarted node's own count from before, or the other HA node's while this one stood by.
   * True when the objects hold them now (or the first apply, still to come, will write them);
   * false when raising them failed (reported).
   */
  async seed(samples: readonly ClientUsageSample[]): Promise<boolean> {
    this.stored = samples;
    // Judged under the write lock: an apply under way may have read the counts before these arrived
    // and written its objects from zero; its policy and window are known only once it is done.
    return this.exclusive(async () => {
      const target = this.target;
      const window = this.window;
      if (target === null || window === null) return true; // the first apply, still to come, reads them
      if (quotasBelowSeed(target.policy, window.key, this.memory, this.memory, this.knownCounts(window)).length === 0) return true;
      this.quotaChecked = null;
      await this.applyQuota(target.policy, target.settings, false);
      return true;
    }).catch((error: Error) => {
      this.deps.onError(error);
      return false;
    });
  }

  /** The policy and quota period last applied (null before the first sync). */
  get applied(): { readonly policy: GatewayPolicy; readonly window: QuotaPeriodWindow } | null {
    return this.target && this.window ? { policy: this.target.policy, window: this.window } : null;
  }

  /**
   * The mappings over quota now, by the kernel's quota objects of the current period (one cheap
   * `list quotas`); an object missing from the listing counts as remembered until the heal restores
   * it, so another writer's delete never unblocks a client. When the period has ended, the table
   * is moved to the new one first (fresh objects: the clients are no longer over).
   */
  async exceeded(): Promise<QuotaReport> {
    let target = this.target;
    if (target === null || !target.policy.clients.some((c) => c.shaping?.quotaBytes != null)) return new Map();
    if (!this.windowHolds(this.deps.now())) {
      // A sync under way applies the newest policy handed over, and moves the window with it; a
      // sync of the policy last applied would take the place of a newer one waiting its turn.
      await (this.syncs.busy ? this.syncs.idle() : this.sync(target.policy, target.settings));
      target = this.target;
    }
    const window = this.window;
    if (target === null || window === null) return new Map();
    const listed = parseQuotaTable(await this.list('pgw_quota'));
    const quotas = new Map(this.memory.quotas);
    for (const [name, q] of listed.quotas) quotas.set(name, higherCount(q, quotas.get(name))!);
    this.memory = { ...this.memory, quotas };
    return quotaExceeded(target.policy, window.key, quotas);
  }

  /**
   * One listing of table inet pgw_acct: every client's counters (the accounting sample), remembered
   * for a heal; the quota counts are the poll's. A table found not in force is healed.
   */
  async sample(): Promise<{ reading: QuotaTableReading; ms: number }> {
    const started = performance.now();
    const reading = parseQuotaTable(await this.list('pgw_acct'));
    const ms = performance.now() - started;
    const applied = this.applied;
    if (applied === null) return { reading, ms };
    if (quotaTableDrift(applied.policy, applied.window.key, reading, ['pgw_acct']).length > 0) {
      // The periodic check lists only pgw_quota: the heal must list both tables to see this drift.
      this.quotaChecked = null;
      // Not awaited (the sample goes on): a failed heal is reported, never left rejected.
      this.heal('verify').catch((error: Error) => this.deps.onError(error));
    }
    // Counts another writer removed a moment ago (the heal is restoring them) are reported as remembered.
    this.memory = remember(this.memory, reading, applied.policy, applied.window.key);
    return { reading: this.memory, ms };
  }

  /**
   * The self-heal's part, after another writer changed table inet pgw_quota. verify: rewrite only
   * when it differs from the policy; restore: rewrite (chains, rules, map) in any case. Missing
   * objects and elements come back with the remembered counts. Coalesced: while one heal runs, the
   * requests meanwhile make one more (the stronger mode), however many events a looping tool makes.
   */
  heal(mode: 'verify' | 'restore'): Promise<'restored' | 'intact' | 'idle'> {
    this.healMode = this.healMode === 'restore' || mode === 'restore' ? 'restore' : 'verify';
    const restoresBefore = this.healRestores;
    // 'restored' when any heal since this call restored the tables, else the last heal's outcome.
    return this.heals.request().then(() => (this.healRestores > restoresBefore ? 'restored' : this.healResult));
  }

  private async healOnce(): Promise<void> {
    const mode = this.healMode;
    this.healMode = null;
    if (mode === null) return; // taken by the heal before, which started after the request
    const target = this.target;
    if (target === null) {
      this.healResult = 'idle'; // nothing applied yet: the first sync writes the tables whole
      return;
    }
    this.healResult = await this.exclusive(() => this.applyQuota(target.policy, target.settings, mode === 'restore'));
    if (this.healResult === 'restored') this.healRestores++;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async applyTc(plan: TcPlan): Promise<void> {
    const key = JSON.stringify(plan);
    if (key === this.appliedTc && this.deps.now() - this.tcVerifiedAt < VERIFY_EVERY_MS) return;
    if (key === this.appliedTc && (await this.verifyTc(plan))) {
      this.tcVerifiedAt = this.deps.now();
      return;
    }
    // Another tool's qdisc where the plan needs a place: refused before anything is made (the IFB
    // device too), and looked at again after VERIFY_EVERY_MS, not at every sync (one a second).
    const now = this.deps.now();
    if (this.refusedPlan?.key === key && now - this.refusedPlan.at < VERIFY_EVERY_MS) throw this.refusedPlan.error;
    const lan = await this.qdiscsOf(plan.lan);
    const conflict = qdiscConflict(plan, lan);
    this.refusedPlan = conflict === null ? null : { key, at: now, error: new Error(conflict) };
    if (this.refusedPlan !== null) throw this.refusedPlan.error;
    // The IFB device first: where none can be had (no ifb module), nothing of ours is removed yet.
    if (plan.ifb) {
      await this.run(this.deps.bins.ip, ['link', 'add', 'name', IFB_DEVICE, 'type', 'ifb'], true);
      try {
        await this.run(this.deps.bins.ip, ['link', 'set', 'dev', IFB_DEVICE, 'up']);
      } catch (error) {
        throw new IfbUnavailable(error as Error);
      }
    }
    // pgw's root and ingress qdiscs are removed and written again whole (a client's shaping pauses
    // for the milliseconds of the batch, never its traffic), on the LAN interface and on the one
    // before it; another tool's are left alone (refused above where the plan needs their place).
    if (this.tcLan !== null && this.tcLan !== plan.lan) await this.removePgwQdiscs(this.tcLan, await this.qdiscsOf(this.tcLan));
    this.tcLan = plan.lan;
    await this.removePgwQdiscs(plan.lan, lan);
    if (plan.ifb) await this.run(this.deps.bins.tc, ['qdisc', 'del', 'dev', IFB_DEVICE, 'root'], true);
    else await this.run(this.deps.bins.ip, ['link', 'del', 'dev', IFB_DEVICE], true);
    if (plan.batch.length > 0) await this.run(this.deps.bins.tc, ['-batch', '-'], false, plan.batch.join('\n') + '\n');
    if (!(await this.verifyTc(plan))) throw new Error('tc read-back differs from the plan just applied');
    this.appliedTc = key;
    this.tcVerifiedAt = this.deps.now();
  }

  /** The LAN interface of an earlier policy (the state file's, at start), whose pgw qdiscs go at the first write. */
  leftOn(lan: string): void {
    this.tcLan ??= lan;
  }

  /** `tc -j qdisc show dev <dev>`; none for a device that is not there. */
  private async qdiscsOf(dev: string): Promise<ReturnType<typeof parseQdiscs>> {
    const listed = await this.run(this.deps.bins.tc, ['-j', 'qdisc', 'show', 'dev', dev], true);
    return listed === '' ? [] : parseQdiscs(listed);
  }

  private async removePgwQdiscs(dev: string, listed: ReturnType<typeof parseQdiscs>): Promise<void> {
    for (const q of listed.filter(isPgwQdisc)) await this.run(this.deps.bins.tc, ['qdisc', 'del', 'dev', dev, q.root ? 'root' : 'ingress'], true);
  }

  /** Every planned class is there with its rate, no other class of ours, and every planned filter (this tc prints them as text only). */
  private async verifyTc(plan: TcPlan): Promise<boolean> {
    const devices = [...new Set([plan.lan, ...(plan.ifb ? [IFB_DEVICE] : [])])];
    const seen = new Map<string, number | null>();
    for (const dev of devices) {
      for (const c of parseTcClasses(await this.run(this.deps.bins.tc, ['class', 'show', 'dev', dev], true))) seen.set(`${dev} ${c.classid}`, c.rateKbit);
    }
    if (seen.size !== plan.classes.length) return false;
    if (!plan.classes.every((c) => seen.get(`${c.dev} ${c.classid}`) === tcShownKbit(c.rateKbit))) return false;
    // The filters (and so the qdiscs they hang on, the LAN's ingress among them) that feed the classes.
    for (const [where, keys] of plan.filters) {
      const [dev, parent] = where.split(' ') as [string, string];
      const listed = parseTcFilters(await this.run(this.deps.bins.tc, ['filter', 'show', 'dev', dev, 'parent', parent], true));
      if (listed.length !== keys.length || listed.some((key, i) => key !== keys[i])) return false;
    }
    return true;
  }

  /** Whether the quota period in force holds at `now` (false before the first apply, or with the clock outside it). */
  private windowHolds(now: number): boolean {
    return this.window !== null && this.window.start.getTime() <= now && now < this.window.end.getTime();
  }

    private async applyQuota(policy: GatewayPolicy, settings: QuotaSettings, force: boolean): Promise<'restored' | 'intact'> {
    const now = this.deps.now();
    // The window in force only while the clock is inside it: a clock set ahead and put back (a typo,
    // a bad RTC before NTP) would otherwise keep the later period until it ends, and the real
    // period's end would pass without a reset.
    const window = this.windowHolds(now) && this.window!.period === settings.period && this.windowZone === settings.timeZone ? this.window! : quotaPeriodAt(new Date(now), settings.period, settings.timeZone);
    const key = JSON.stringify([window.key, policy.lan.interface, policy.clients.map((c) => [c.ip, c.mappingId, c.shaping?.quotaBytes ?? null, c.shaping?.quotaEpoch ?? 0])]);
    if (!force && this.quotaChecked?.key === key && now - this.quotaChecked.at < VERIFY_EVERY_MS) return 'intact';
    // The periodic check of an unchanged policy lists only the quota table (cheap); the counter
    // table is checked by each sample. A change, a heal or a drift lists both before writing.
    const periodic = !force && this.quotaChecked?.key === key;
    const quotaJson = await this.list('pgw_quota');
    let listed = parseQuotaTable(quotaJson, periodic ? null : await this.list('pgw_acct'));
    const checked: CountingTable[] = periodic ? ['pgw_quota'] : ['pgw_quota', 'pgw_acct'];
    let result: 'restored' | 'intact' = 'intact';
    const stored = this.knownCounts(window);
    if (force || quotaTableDrift(policy, window.key, listed, checked).length > 0 || quotasBelowSeed(policy, window.key, listed, this.memory, stored).length > 0) {
      if (periodic) listed = parseQuotaTable(quotaJson, await this.list('pgw_acct'));
      this.memory = remember(this.memory, listed, policy, window.key);
      await this.run(this.deps.bins.nft, ['-f', '-'], false, renderQuotaScript(policy, window.key, listed, this.memory, now / 1000, stored));
      listed = parseQuotaTable(await this.list('pgw_quota'), await this.list('pgw_acct'));
      const drift = quotaTableDrift(policy, window.key, listed);
      if (drift.length > 0) throw new Error(`tables inet pgw_quota/pgw_acct differ after their apply: ${drift.slice(0, 3).join('; ')}`);
      result = 'restored';
    }
    this.memory = remember(this.memory, listed, policy, window.key);
    this.window = window;
    this.windowZone = settings.timeZone;
    this.quotaChecked = { key, at: now };
    return result;
  }

  /** `nft -j list table inet <table>`; null when the table does not exist. */
  private async list(table: CountingTable): Promise<string | null> {
    const result = await execa(this.deps.bins.nft, ['-j', 'list', 'table', 'inet', table], { reject: false, timeout: TIMEOUT_MS });
    if (result.exitCode === 0) return result.stdout;
    if (/No such file or directory/.test(result.stderr)) return null;
    throw new Error(`nft list table inet ${table} failed: ${result.stderr.trim().slice(0, 500)}`);
  }

  private async run(bin: string, args: string[], tolerant = false, input?: string): Promise<string> {
    const child = execa(bin, args, { reject: false, timeout: TIMEOUT_MS, ...(input === undefined ? {} : { input }) });
    if (bin === this.deps.bins.nft && child.pid !== undefined) this.deps.onWriter(child.pid);
    const result = await child;
    if (result.exitCode !== 0 && !tolerant) throw new Error(`${bin} ${args.join(' ')} failed (exit ${result.exitCode ?? result.signal}): ${(result.stderr || result.stdout).trim().slice(0, 500)}`);
    return result.exitCode === 0 ? result.stdout : '';
  }
}

/** No IFB device to shape uploads with (a kernel without the ifb module, a container): the download limits still apply. */
class IfbUnavailable extends Error {
  constructor(cause: Error) {
    super(`no IFB device ${IFB_DEVICE} for the upload limits (is the ifb module available?); only the download limits can be applied: ${cause.message}`);
  }
}

/**
 * The listed object, counting at least what was remembered of it: a count goes down only when
 * another writer reset it (a new period or epoch is another object), and that must not become
 * the agent's own count (the periodic check raises the object back to it).
 */
function higherCount(listed: QuotaObject | undefined, remembered: QuotaObject | undefined): QuotaObject | undefined {
  if (listed === undefined || remembered === undefined || remembered.used <= listed.used) return listed ?? remembered;
  return { ...listed, used: remembered.used };
}

/** Periods other than the one in force whose counts of a client are remembered (remember()). */
const OTHER_PERIODS_KEPT = 2;

/**
 * What to remember of a listing: the listed counts of the policy's clients and quota objects (those
 * of the period in force and of the OTHER_PERIODS_KEPT latest others), and for those the listing
 * lacks (removed by another writer, not yet restored) the remembered ones. Nothing else is kept: a
 * client unmapped and mapped again starts from zero.
 */
function remember(memory: QuotaTableReading, listed: QuotaTableReading, policy: GatewayPolicy, periodKey: string): QuotaTableReading {
  const quotas = new Map<string, QuotaObject>();
  for (const c of policy.clients) {
    if (c.shaping?.quotaBytes == null) continue;
    const name = quotaName(c.mappingId, c.shaping.quotaEpoch, periodKey);
    const q = higherCount(listed.quotas.get(name), memory.quotas.get(name));
    if (q) quotas.set(name, q);
    // The client's counts of other periods too, the latest few: a clock set ahead into another
    // period and put back finds the real period's count here (the kernel object was replaced, and
    // this node's published sample of it overwritten), instead of counting it anew from zero.
    const stem = `${quotaStem(c.mappingId, c.shaping.quotaEpoch)}_`;
    const others = [...new Set([...listed.quotas.keys(), ...memory.quotas.keys()])].filter((other) => other !== name && other.startsWith(stem)).sort().slice(-OTHER_PERIODS_KEPT);
    for (const other of others) {
      const kept = higherCount(listed.quotas.get(other), memory.quotas.get(other));
      if (kept) quotas.set(other, kept);
    }
  }
  const pick = (set: AccountingSet) => {
    const kept = new Map<string, KernelCounter>();
    for (const c of policy.clients) {
      const counter = listed.counters[set].get(c.ip) ?? memory.counters[set].get(c.ip);
      if (counter) kept.set(c.ip, counter);
    }
    return kept;
  };
  return { ...listed, since: listed.since ?? memory.since, quotas, counters: { up: pick('up'), down: pick('down'), flows: pick('flows') } };
}
