import type { Logger } from '@pgw/log';
import { CoalescedRuns } from '@pgw/runtime';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { GuardLoader } from './guard-restore.js';
import { type HealPlan, mergePlans, needsHeal, type NftTransaction, type OwnWriters, planHeal } from './nft-monitor-events.js';
import { NftMonitor } from './nft-monitor.js';
import type { Reconciler } from '../ruleset/reconciler.js';

export interface SelfHealDeps {
  nftBin: string;
  guard: GuardLoader;
  reconciler: Pick<Reconciler, 'restoreInForce'>;
  own: OwnWriters;
  logger: Logger;
  registry: Registry;
  now(): number;
  /** Tables inet pgw_quota and pgw_acct (issue 16): rewritten with the counts last read, never from zero. */
  quota: { heal(mode: 'verify' | 'restore'): Promise<'restored' | 'intact' | 'idle'> };
}

/** The cause of the heal each nft monitor subscription asks for (no event covered the time before it). */
const SUBSCRIBED = 'monitor subscribed';

/**
 * Event-driven self-heal (issue 11.2): every nft transaction by another writer that removes or
 * edits table inet pgw_guard or inet pgw is undone at once, the guard first (the fail-closed
 * layer), then inet pgw from the ruleset in force. At most one heal runs and one is queued (the
 * merge of everything seen meanwhile), so a tool flushing in a loop costs the agent at most one
 * heal after another, and each flush is undone within about one heal's time.
 */
export class SelfHeal {
  /** The next heal: everything seen while one runs, merged. guard 'verify' loads the guard only when it is absent. */
  private queued: HealPlan | null = null;
  private causes: string[] = [];
  /** One heal at a time, of the plan queued when it starts; a request made during one runs another after it. */
  private readonly heals = new CoalescedRuns(() => this.healQueued());
  private pidsComparable = false;
  private readonly monitor: NftMonitor;
  private readonly restores: Counter<'table'>;

  constructor(private readonly deps: SelfHealDeps) {
    this.restores = new Counter({ name: 'pgw_agent_selfheal_restores_total', help: 'Tables restored by the self-heal after another writer removed or edited them', labelNames: ['table'], registers: [deps.registry] });
    for (const table of ['guard', 'pgw', 'quota']) this.restores.inc({ table }, 0);
    const up = new Gauge({ name: 'pgw_agent_nft_monitor_up', help: '1 while the agent is subscribed to nftables events (the self-heal works)', registers: [deps.registry] });
    this.monitor = new NftMonitor({
      nftBin: deps.nftBin,
      logger: deps.logger,
      onTransaction: (t) => this.onTransaction(t),
      onReady: (comparable) => {
        this.pidsComparable = comparable;
        if (!comparable) deps.logger.warn('nft monitor: writer pids are not the agent’s (own pid namespace); every edit of inet pgw is verified before a restore');
        // Whatever happened while no monitor ran (before the agent started, or since a monitor
        // died): inet pgw is verified against what is in force; the guard, of which the agent
        // keeps no record, is loaded again from its file, whole, since a guard emptied meanwhile
        // is still present (checking that it exists left it empty for good).
        this.request({ guard: 'restore', pgw: 'verify' }, SUBSCRIBED);
        this.healQuota('verify', 'monitor started');
      },
      onUp: (isUp) => up.set(isUp ? 1 : 0),
    });
  }

  start(): void {
    this.monitor.start();
  }

  async stop(): Promise<void> {
    await this.monitor.stop();
    await this.heals.idle();
  }

  private onTransaction(transaction: NftTransaction): void {
    const { pid } = transaction;
    const writer = pid === null || !this.pidsComparable ? 'unknown' : this.deps.own.claim(pid) ? 'own' : 'foreign';
    const plan = planHeal(transaction, writer);
    const cause = `generation ${transaction.generation} by ${transaction.process ?? '?'} pid ${pid ?? '?'}`;
    if (needsHeal(plan)) this.request(plan, cause);
    // The quota and counter tables are in force or not by their own content (the agent's memory of
    // their counts), on their own queue: a foreign change is rewritten, an unknown writer's only when it differs.
    const quota = transaction.changes.get('quota') ?? transaction.changes.get('acct');
    if (quota !== undefined && writer !== 'own') this.healQuota(writer === 'foreign' || quota === 'removed' ? 'restore' : 'verify', cause);
  }

  private healQuota(mode: 'verify' | 'restore', cause: string): void {
    const started = this.deps.now();
    this.deps.quota.heal(mode).then(
      (result) => {
        if (result !== 'restored') return;
        this.restores.inc({ table: 'quota' });
        this.deps.logger.warn('self-heal: tables inet pgw_quota/pgw_acct restored with the counts last read', { ms: Math.round(this.deps.now() - started), cause });
      },
      (error: Error) => this.deps.logger.error('self-heal: inet pgw_quota/pgw_acct not restored', { error: error.message, cause }),
    );
  }

  private request(plan: HealPlan, cause: string): void {
    this.queued = this.queued ? mergePlans(this.queued, plan) : plan;
    this.causes.push(cause);
    // Errors are the heal's own to log (heal() catches per table); nothing else rejects.
    this.heals.request().catch(() => undefined);
  }

  private async healQueued(): Promise<void> {
    const plan = this.queued;
    if (plan === null) return;
    const causes = this.causes;
    this.queued = null;
    this.causes = [];
    await this.heal(plan, causes);
  }

  private async heal(plan: HealPlan, causes: string[]): Promise<void> {
    const { guard, reconciler, logger, now } = this.deps;
    const started = now();
    const done: Record<string, string | number> = {};
    // The guard is only ever loaded again whole (planHeal and a subscription ask restore or nothing).
    if (plan.guard !== 'none') {
      try {
        await guard.load();
        // A load at a subscription alone is routine (every agent start): not counted as a restore.
        const routine = causes.every((cause) => cause === SUBSCRIBED);
        if (!routine) this.restores.inc({ table: 'guard' });
        done.guard = routine ? 'reloaded' : 'restored';
        done.guardMs = Math.round(now() - started);
      } catch (error) {
        logger.error('self-heal: guard not restored', { file: guard.file, error: (error as Error).message, causes });
        done.guard = 'failed';
      }
    }
    if (plan.pgw !== 'none') {
      const outcome = await reconciler.restoreInForce(plan.pgw === 'verify');
      done.pgw = outcome.result;
      if (outcome.result === 'restored') this.restores.inc({ table: 'pgw' });
      if (outcome.error) logger.error('self-heal: inet pgw not restored', { error: outcome.error, causes });
    }
    if (done.guard === 'restored' || done.pgw === 'restored') {
      logger.warn('self-heal: nft tables restored after another writer changed them', { ...done, ms: Math.round(now() - started), causes: causes.slice(0, 5), events: causes.length });
    }
  }
}
