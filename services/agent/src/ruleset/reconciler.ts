import type { GatewayPolicy } from '@pgw/domain';
import { type PolicyBuild, type Refusal, SettingsRefused } from '../policy/build-policy.js';
import { type ClientDisconnect, clientsToDisconnect } from '../conntrack/disconnect-plan.js';
import { PhaseTimer } from './phase-timer.js';
import { renderDelta } from './render-delta.js';
import { type RenderedRuleset, renderRuleset } from './render-ruleset.js';
import { type TableListing, verifyChainNames, verifyTable } from './verify-table.js';

export const ERROR_CAUSES = ['desired_state', 'refused', 'render', 'nft_apply', 'verify', 'lan_sysctl', 'conntrack', 'state_file'] as const;
export type ErrorCause = (typeof ERROR_CAUSES)[number];

export interface ReconcilerPorts {
  /**
   * Snapshot of the desired state as a policy (Postgres read + DNS for strict output). Returning
   * the very PolicyBuild of the previous run means "unchanged": nothing is rendered again.
   * `triggers`: every request the run serves (they coalesce), so the load can skip what none of them can change.
   */
  loadDesired(triggers: ReadonlySet<string>): Promise<PolicyBuild>;
  /**
   * One nft transaction; rejects with nft's error, the kernel keeping the old ruleset. `delta`:
   * element commands only (renderDelta), one per line; `full`: a whole ruleset script.
   */
  applyScript(script: string, kind: 'full' | 'delta'): Promise<void>;
  /** `nft -j list table inet pgw` with every set element; null when the table is absent. */
  listTable(): Promise<TableListing | null>;
  /** Names of the chains of table inet pgw, none when it is absent: the cheap check between full read-backs. */
  listChains(): Promise<readonly string[]>;
  /**
   * The LAN interface's kernel backstop (forwarding off), asserted on every run except a delta
   * that changes no MAC pin within lanMaxAgeMs of the last assertion; route_localnet on
   * it only when `localnet` (a ruleset closing the hole is in force), off everywhere else.
   */
  prepareLan(policy: GatewayPolicy, localnet: boolean): Promise<void>;
  disconnectClients(clients: readonly ClientDisconnect[]): Promise<void>;
  /** Written after the run's report, before request() resolves (the notice is acknowledged then). */
  saveState(policy: GatewayPolicy): Promise<void>;
  report(outcome: ReconcileOutcome): void;
  now(): number;
}

export interface ReconcileOutcome {
  readonly trigger: string;
  /** full: table replaced; delta: set elements changed; none: already in force and verified. */
  readonly mode: 'full' | 'delta' | 'none';
  readonly ok: boolean;
  readonly durationMs: number;
  /** The policy now in force (the previous one when this run failed before applying). */
  readonly build: PolicyBuild | null;
  readonly errors: readonly { readonly cause: ErrorCause; readonly message: string }[];
  /** Why a full apply was needed: the table gone or altered, or a delta the kernel refused (it did not hold what was applied last). */
  readonly drift: readonly string[];
  /** What the agent refused to apply (settings it cannot enforce here, mapping ports), with the reason. */
  readonly refusals: readonly Refusal[];
  /** Milliseconds spent per phase (load, render, apply, verify, lan, conntrack); the last three overlap. */
  readonly phases: Readonly<Record<string, number>>;
  /**
   * Whether a table of the agent's closes the loopback hole after this run, as route_localnet was
   * last set: false once the table is gone (or its read-back failed) and nft did not put it back.
   * The node then serves no client (the guard drops them all), whatever policy was built.
   */
  readonly tableInForce: boolean;
}

interface Applied {
  readonly policy: GatewayPolicy;
  readonly rendered: RenderedRuleset;
}

export interface ReconcilerOptions {
  /**
   * Every n-th unchanged run reads the whole table back (set elements, rule counts); the others
   * only check that the table is there with its chains, which costs a few ms at any size.
   * A full apply is followed by a full read-back; a delta is its own check (renderDelta).
   */
  fullVerifyEvery?: number;
  /**
   * A delta run that changes neither the LAN interface nor a MAC pin asserts the LAN settings only
   * when the last assertion is older than this (default 1000 ms, the resync interval): a stream
   * of notices costs no LAN check per change, and can never starve it either.
   */
  lanMaxAgeMs?: number;
}

/**
 * Converges table inet pgw to the desired state, one run at a time: requests arriving during a
 * run coalesce into exactly one more run. A run never throws; its outcome is reported.
 */
export class Reconciler {
  private applied: Applied | null = null;
  private lastBuild: PolicyBuild | null = null;
  private current: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** The triggers of the requests the queued run serves. */
  private queuedTriggers = new Set<string>();
  private unchangedRuns = 0;
  /** The ruleset the last successful nft write put in force (what a self-heal puts back). */
  private inForce: RenderedRuleset | null = null;
  /**
   * What `applied` held when a failed read-back dropped it (verifyApplied): the shape a refused
   * new shape falls back to (applyUnderShapeInForce), applied in full, since nothing is known in force.
   */
  private unverified: Applied | null = null;
  /** The rules as read back after the last verified full apply, and the table shape they are of. */
  private ruleBaseline: { readonly skeleton: string; readonly rules: ReadonlyMap<string, string> } | null = null;
  /** Every nft write, one at a time in call order: a self-heal never interleaves with a run's apply. */
  private writes: Promise<unknown> = Promise.resolve();
  /** Of the run in progress (runs never overlap). */
  private timer = new PhaseTimer(() => 0);
  /**
   * State file writes, one at a time, after the run that asked for them (off the run's critical
   * path: the kernel enforces the change before the file is written). Only the newest policy
   * waiting is written; a failure is reported by the next run, which writes again.
   */
  private saving: Promise<void> = Promise.resolve();
  private toSave: GatewayPolicy | null = null;
  private stateError: string | null = null;
  /** The last successful LAN assertion with route_localnet on: lanKey() of its policy, and when it started. */
  private lanAsserted: { readonly key: string; readonly at: number } | null = null;
  /** ReconcileOutcome.tableInForce: set with route_localnet, on or off. */
  private tableInForce = false;

  constructor(
    private readonly ports: ReconcilerPorts,
    private readonly options: ReconcilerOptions = {},
  ) {}

  /** Resolves once a run that started after this call has finished. */
  request(trigger: string): Promise<void> {
    if (this.queued) {
      this.queuedTriggers.add(trigger);
      return this.queued;
    }
    if (this.current) {
      this.queuedTriggers = new Set([trigger]);
      // Started after the current run however it ended: a run that threw must not stall the queue.
      const next = () => {
        this.queued = null;
        return this.start(trigger, this.queuedTriggers);
      };
      this.queued = this.current.then(next, next);
      return this.queued;
    }
    return this.start(trigger, new Set([trigger]));
  }

  /** Resolves when no run is in progress or queued and the state file is written. */
  async idle(): Promise<void> {
    while (this.current || this.queued) await (this.queued ?? this.current);
    await this.saving;
  }

  /**
   * Self-heal (an nft event showed table inet pgw removed or edited by another writer): puts the
   * ruleset in force back in full, without loading the desired state, right after the nft write in
   * progress if any. With check, only when the kernel differs from it (full read-back). Never throws.
   */
  restoreInForce(check: boolean): Promise<{ result: 'restored' | 'intact' | 'nothing_in_force' | 'failed'; error?: string }> {
    return this.serialized(async () => {
      const rendered = this.inForce;
      if (!rendered) return { result: 'nothing_in_force' as const };
      try {
        if (check) {
          const listing = await this.ports.listTable();
          if (listing !== null && this.driftOf(rendered, listing).length === 0) return { result: 'intact' as const };
        }
        await this.ports.applyScript(rendered.script, 'full');
        return { result: 'restored' as const };
      } catch (error) {
        return { result: 'failed' as const, error: messageOf(error) };
      }
    });
  }

  /** At start, before Postgres answers: enforce the policy that was in force before the restart. */
  enforceCached(policy: GatewayPolicy): Promise<void> {
    if (this.current || this.queued || this.applied) throw new Error('enforceCached() is only for the start, before any other run');
    return this.start('state_file', new Set(['state_file']), async () => ({ policy, rejected: [], refusals: [] }));
  }

  /** The run, and then the state file it asked for: what request() resolves after. */
  private start(trigger: string, triggers: ReadonlySet<string>, load: () => Promise<PolicyBuild> = () => this.ports.loadDesired(triggers)): Promise<void> {
    let saved: Promise<void> = Promise.resolve();
    const run = this.runWith(trigger, load, (policy) => (saved = this.saveLater(policy))).finally(() => {
      if (this.current === run) this.current = null;
    });
    this.current = run;
    return run.then(() => saved);
  }

  private saveLater(policy: GatewayPolicy): Promise<void> {
    this.toSave = policy;
    this.saving = this.saving.then(async () => {
      // After the report of the run that asked: encoding thousands of clients is not on its path.
      await new Promise((resolve) => setImmediate(resolve));
      const latest = this.toSave;
      if (latest === null) return;
      this.toSave = null;
      try {
        await this.ports.saveState(latest);
        this.stateError = null;
      } catch (error) {
        this.stateError = messageOf(error);
      }
    });
    return this.saving;
  }

  private async runWith(trigger: string, load: () => Promise<PolicyBuild>, save: (policy: GatewayPolicy) => void): Promise<void> {
    const started = this.ports.now();
    const timer = (this.timer = new PhaseTimer(() => this.ports.now()));
    const errors: { cause: ErrorCause; message: string }[] = [];
    let mode: ReconcileOutcome['mode'] = 'none';
    let drift: string[] = [];
    let refusals: readonly Refusal[] = [];
    const finish = () => {
      // A state file that could not be written since the last report: said now, written again.
      if (this.stateError !== null) {
        errors.push({ cause: 'state_file', message: this.stateError });
        if (this.applied) save(this.applied.policy);
      }
      this.ports.report({ trigger, mode, ok: errors.length === 0, durationMs: this.ports.now() - started, build: this.lastBuild, errors, drift, refusals, phases: timer.phases, tableInForce: this.tableInForce });
    };

    let build: PolicyBuild;
    let rendered: RenderedRuleset;
    try {
      build = await timer.time('load', load);
    } catch (error) {
      if (error instanceof SettingsRefused) refusals = error.refusals;
      errors.push({ cause: error instanceof SettingsRefused ? 'refused' : 'desired_state', message: messageOf(error) });
      // The desired state is unknown or refused, but the last applied one must stay in force
      // (another tool may have flushed the ruleset while Postgres is down).
      // Taken once: a restore whose read-back fails forgets the ruleset in force (applied = null),
      // and its LAN interface must still be kept.
      const applied = this.applied;
      if (applied) {
        ({ mode, drift } = await this.restoreIfDrifted(applied, errors));
        await this.keepLan(applied.policy, errors);
      }
      return finish();
    }
    refusals = build.refusals;
    // Reported as a failed load is, while the rows last read apply with the agent's own overlays (DesiredSource.load).
    if (build.loadFailed !== undefined) errors.push({ cause: 'desired_state', message: build.loadFailed });
    if (build.settingsRefused) {
      // Reported as a refused load is, while the rest of the desired state applies (DesiredSource.build).
      refusals = [...build.settingsRefused, ...build.refusals];
      errors.push({ cause: 'refused', message: new SettingsRefused(build.settingsRefused).message });
    }
    // The LAN in force lacks the guard's layer, or all.route_localnet opens it: listed, and said in
    // the status (agentStatus), while the run stays the ruleset's success or failure (the rules are applied).
    const layersMissing = [build.guardRefused, build.localnetRefused].filter((r) => r !== undefined);
    if (layersMissing.length > 0) refusals = [...layersMissing, ...refusals];

    const previous = this.applied;
    if (previous && build.policy === previous.policy) {
      // The very snapshot in force (the idle resync): nothing to render, only check the kernel.
      this.lastBuild = build;
      ({ mode, drift } = await this.restoreIfDrifted(previous, errors));
      if (mode !== 'none') await this.afterApply(previous.policy, build.policy, errors, null, save);
      else await this.keepLan(previous.policy, errors);
      return finish();
    }
    let delta: string | null;
    try {
      // The delta is computed here too: an empty one is the same ruleset, without writing out either script.
      ({ rendered, delta } = await timer.time('render', () => {
        const next = renderRuleset(build.policy);
        return { rendered: next, delta: previous ? renderDelta(previous.rendered, next) : null };
      }));
    } catch (error) {
      errors.push({ cause: 'render', message: messageOf(error) });
      return finish();
    }

    if (previous && delta === '') {
      ({ mode, drift } = await this.sameRuleset(previous, build, errors, save));
      return finish();
    }
    // Only set elements change (same skeleton, so the same LAN interface, whose hole the ruleset in
    // force closes before, during and after the transaction): the LAN settings (when a MAC pin
    // changed) are asserted while nft applies the delta instead of after it.
    // Unchanged LAN interface and MAC pins, asserted less than lanMaxAgeMs ago: not again (another
    // tool resetting a sysctl or removing a routing rule is undone by the next run after that, as
    // the idle resync does; a notice-driven run never bounded it better).
    const lanFresh = this.lanAsserted !== null && this.lanAsserted.key === lanKey(build.policy) && this.ports.now() - this.lanAsserted.at < (this.options.lanMaxAgeMs ?? 1_000);
    const lan = delta ? (lanFresh ? Promise.resolve() : this.assertLan(build.policy, errors)) : null;
    ({ mode, drift } = await this.applyChange(previous, delta, rendered, errors));
    if (mode === 'none') {
      await lan;
      const shape = previous ?? this.unverified;
      if (shape !== null && delta === null && errors.some((e) => e.cause === 'nft_apply')) ({ mode, drift } = await this.applyUnderShapeInForce(shape, previous === null, build, errors, save, drift));
      // The delta and then the full script refused: the table is not what it was (gone, or changed
      // behind the agent). The LAN follows that, as after a failed restore: route_localnet only
      // while a table closes the loopback hole (the assertion beside the delta turned it on).
      else if (delta !== null) await this.keepLan(build.policy, errors);
      return finish();
    }
    this.lastBuild = build;
    this.applied = { policy: build.policy, rendered };
    // A strict delta committed is verified by the kernel itself; a full apply is read back in full.
    const verify = mode === 'full' ? () => this.verifyApplied(rendered, errors) : null;
    await this.afterApply(previous?.policy ?? null, build.policy, errors, verify, save, lan);
    return finish();
  }

  /**
   * The kernel refused the new table shape (a setting it cannot do, e.g. TPROXY without its nft
   * module), and would again at every run: the clients' changes are applied under the shape of
   * `previous`, so that no block, unmapping or move waits for the setting to be put right (the
   * refusal stays in the run's errors). `full`: nothing is known in force (a read-back failed
   * since): that ruleset is applied in full and read back. With no change under that shape the run
   * is an idle one, and reads the table in force back as an idle run does (restoreIfDrifted): a
   * refusal that lasts must not stop the periodic read-back. The refused shape's error is not
   * about the table in force: the LAN follows this fallback's own outcome. Returns how it applied
   * ('none': it could not, or nothing to do) and the drift found.
   */
  private async applyUnderShapeInForce(
    previous: Applied,
    full: boolean,
    build: PolicyBuild,
    errors: { cause: ErrorCause; message: string }[],
    save: (policy: GatewayPolicy) => void,
    drift: string[],
  ): Promise<{ mode: ReconcileOutcome['mode']; drift: string[] }> {
    const under: GatewayPolicy = { ...previous.policy, clients: build.policy.clients };
    let rendered: RenderedRuleset;
    let delta: string | null;
    try {
      rendered = renderRuleset(under);
      delta = full ? null : renderDelta(previous.rendered, rendered);
    } catch (error) {
      errors.push({ cause: 'render', message: messageOf(error) });
      return { mode: 'none', drift };
    }
    if (!full && delta === null) return { mode: 'none', drift };
    const own: { cause: ErrorCause; message: string }[] = [];
    if (delta === '') {
      const restored = await this.sameRuleset(previous, { ...build, policy: under }, own, save);
      errors.push(...own);
      return { mode: restored.mode, drift: [...drift, ...restored.drift] };
    }
    const applied = await this.applyChange(full ? null : previous, delta, rendered, own);
    if (applied.mode === 'none') {
      errors.push(...own);
      return { mode: 'none', drift: [...drift, ...applied.drift] };
    }
    this.lastBuild = { ...build, policy: under };
    this.applied = { policy: under, rendered };
    this.unverified = null;
    const verify = applied.mode === 'full' ? () => this.verifyApplied(rendered, own) : null;
    await this.afterApply(previous.policy, under, own, verify, save, this.assertLan(under, own));
    errors.push(...own);
    return { mode: applied.mode, drift: [...drift, ...applied.drift] };
  }

  /**
   * Another snapshot with the same ruleset as `previous` (the state file's policy at start, a
   * setting the ruleset does not use, a client moved to another proxy on the same port): it becomes
   * the one applied, and the table is checked as an idle run checks it. `errors` judge the LAN
   * (afterApply's keepLan): only this run's own, never a refused shape's.
   */
  private async sameRuleset(previous: Applied, build: PolicyBuild, errors: { cause: ErrorCause; message: string }[], save: (policy: GatewayPolicy) => void): Promise<{ mode: ReconcileOutcome['mode']; drift: string[] }> {
    this.applied = { policy: build.policy, rendered: previous.rendered };
    this.lastBuild = build;
    const restored = await this.restoreIfDrifted(this.applied, errors);
    await this.afterApply(previous.policy, build.policy, errors, null, save);
    return restored;
  }

  /** What a read-back finds changed: the sets and counts, and the rules against the baseline of this shape (a delta changes no rule). */
  private driftOf(rendered: RenderedRuleset, listing: TableListing): string[] {
    return verifyTable(rendered, listing, this.ruleBaseline?.skeleton === rendered.skeleton ? this.ruleBaseline.rules : undefined);
  }

  /** Unchanged desired state: check the kernel still holds it, re-apply in full when not. */
  private async restoreIfDrifted(applied: Applied, errors: { cause: ErrorCause; message: string }[]): Promise<{ mode: ReconcileOutcome['mode']; drift: string[] }> {
    const every = this.options.fullVerifyEvery ?? 10;
    const full = ++this.unchangedRuns % every === 0;
    let drift: string[];
    try {
      if (full) {
        const listing = await this.timer.time('verify', () => this.ports.listTable());
        drift = listing === null ? ['table inet pgw is missing'] : this.driftOf(applied.rendered, listing);
      } else {
        drift = verifyChainNames(applied.rendered, await this.timer.time('verify', () => this.ports.listChains()));
      }
    } catch (error) {
      drift = [`read-back failed: ${messageOf(error)}`];
    }
    if (drift.length === 0) return { mode: 'none', drift };
    try {
      await this.timer.time('apply', () => this.write(applied.rendered.script, applied.rendered));
    } catch (error) {
      errors.push({ cause: 'nft_apply', message: messageOf(error) });
      return { mode: 'none', drift };
    }
    await this.timer.time('verify', () => this.verifyApplied(applied.rendered, errors));
    return { mode: 'full', drift };
  }

  /**
   * Delta when only set elements differ, full replacement otherwise or when the kernel refuses the
   * strict delta (it no longer holds what we applied last, e.g. an element removed or added by
   * hand): the full replacement is correct whatever it holds, and the refusal is the run's drift.
   */
  private async applyChange(
    previous: Applied | null,
    delta: string | null,
    rendered: RenderedRuleset,
    errors: { cause: ErrorCause; message: string }[],
  ): Promise<{ mode: ReconcileOutcome['mode']; drift: string[] }> {
    const drift: string[] = [];
    if (delta !== null) {
      try {
        if (delta !== '') await this.timer.time('apply', () => this.write(delta, rendered, 'delta'));
        else this.inForce = rendered;
        return { mode: 'delta', drift };
      } catch (error) {
        drift.push(`delta refused by the kernel: ${messageOf(error)}`);
      }
    }
    try {
      await this.timer.time('apply', () => this.write(rendered.script, rendered));
      return { mode: 'full', drift };
    } catch (error) {
      errors.push({ cause: 'nft_apply', message: messageOf(error) });
      return { mode: 'none', drift };
    }
  }

  /** One nft write in the queue; once it succeeded, `after` is the ruleset in force. */
  private write(script: string, after: RenderedRuleset, kind: 'full' | 'delta' = 'full'): Promise<void> {
    return this.serialized(async () => {
      await this.ports.applyScript(script, kind);
      this.inForce = after;
    });
  }

  private serialized<T>(step: () => Promise<T>): Promise<T> {
    const run = this.writes.then(step);
    this.writes = run.catch(() => undefined);
    return run;
  }

  /**
   * Full read-back after an apply; a failure forces a full apply on the next run. What it reads of
   * the rules becomes the baseline later read-backs of this table shape compare with (driftOf).
   */
  private async verifyApplied(rendered: RenderedRuleset, errors: { cause: ErrorCause; message: string }[]): Promise<void> {
    try {
      const listing = await this.ports.listTable();
      const problems = listing === null ? ['table inet pgw is missing after apply'] : verifyTable(rendered, listing);
      if (problems.length > 0) errors.push({ cause: 'verify', message: problems.join('; ') });
      else this.ruleBaseline = { skeleton: rendered.skeleton, rules: listing!.rules };
    } catch (error) {
      errors.push({ cause: 'verify', message: messageOf(error) });
    }
    if (errors.some((e) => e.cause === 'verify') && this.applied?.rendered === rendered) {
      this.unverified = this.applied;
      this.applied = null;
    }
  }

  /**
   * No apply this run: the LAN sysctls are asserted again (another tool may have reset them, e.g.
   * `sysctl net.ipv4.ip_forward=1` turns every interface's forwarding back on). route_localnet
   * stays on only while the table closing its hole is known to be in force.
   */
  private async keepLan(policy: GatewayPolicy, errors: { cause: ErrorCause; message: string }[]): Promise<void> {
    const inForce = !errors.some((e) => e.cause === 'nft_apply' || e.cause === 'verify');
    if (inForce) return this.assertLan(policy, errors);
    this.lanAsserted = null;
    this.tableInForce = false;
    try {
      await this.timer.time('lan', () => this.ports.prepareLan(policy, false));
    } catch (error) {
      errors.push({ cause: 'lan_sysctl', message: messageOf(error) });
    }
  }

  /**
   * Once the new ruleset is in force: its read-back, route_localnet and the conntrack entries of
   * clients that lost their binding, side by side (independent of each other; each failure is
   * reported under its own cause). The state file is written after the run (saveLater).
   */
  private async afterApply(
    previous: GatewayPolicy | null,
    next: GatewayPolicy,
    errors: { cause: ErrorCause; message: string }[],
    verify: (() => Promise<void>) | null,
    save: (policy: GatewayPolicy) => void,
    /** The LAN assertion already started beside a delta's apply; null: asserted here. */
    lanStarted: Promise<void> | null = null,
  ): Promise<void> {
    save(next);
    await Promise.all([
      verify ? this.timer.time('verify', verify) : undefined,
      // After a restore nft refused (or whose read-back failed) no table closes the loopback hole:
      // keepLan then leaves route_localnet off.
      lanStarted ?? this.keepLan(next, errors),
      (async () => {
        try {
          await this.timer.time('conntrack', () => this.ports.disconnectClients(clientsToDisconnect(previous, next)));
        } catch (error) {
          errors.push({ cause: 'conntrack', message: messageOf(error) });
        }
      })(),
    ]);
  }

  /** route_localnet on and the backstop for a ruleset in force (or being applied over one); never throws. */
  private async assertLan(policy: GatewayPolicy, errors: { cause: ErrorCause; message: string }[]): Promise<void> {
    this.lanAsserted = null;
    try {
      const at = this.ports.now();
      await this.timer.time('lan', () => this.ports.prepareLan(policy, true));
      this.lanAsserted = { key: lanKey(policy), at };
      this.tableInForce = true;
    } catch (error) {
      errors.push({ cause: 'lan_sysctl', message: messageOf(error) });
    }
  }
}

/** What the LAN assertion depends on: the interface and the MAC pins (their neighbour entries). */
function lanKey(policy: GatewayPolicy): string {
  return JSON.stringify([policy.lan.interface, policy.clients.filter((c) => c.mac).map((c) => [c.ip, c.mac])]);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
