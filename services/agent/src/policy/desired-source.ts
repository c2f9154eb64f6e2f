import type { DesiredState } from '@pgw/db';
import type { Ipv4 } from '@pgw/domain';
import { withDeadline } from '@pgw/runtime';
import { buildGatewayPolicy, guardRefusal, type HostFacts, localnetRefusal, type PolicyBuild, type PreparedMappings, prepareMappingsUnder, type Refusal, SettingsRefused, settingsRefusals, type AgentPolicyInput } from './build-policy.js';
import { hostFactsKey } from './host-facts.js';

/**
 * How long a desired-state read may take before the run goes on with the rows last read. Postgres
 * gone silent (a network that drops packets, a host powered off) answers nothing, and a read would
 * wait ~15 min for TCP to give up while every run, the 1 s resync's re-assertions among them
 * (forwarding off, policy routes, quota blocks), queued behind it.
 */
export const LOAD_DEADLINE_MS = 5_000;

export interface DesiredSourceDeps {
  /**
   * The rows when their fingerprint differs from `known`'s, else only the fingerprint (one snapshot);
   * tables unchanged since `known` may be taken from its state.
   */
  loadIfChanged(known: LoadedRows | null, tables: ReadonlySet<DesiredTable>, standIn: DesiredState['settings'] | null): Promise<RowsRead>;
  /** Strict OUTPUT only: proxy hostnames -> IPv4 addresses. */
  resolve(hosts: readonly string[]): Promise<ReadonlyMap<string, readonly Ipv4[]>>;
  /** The gateway's interfaces, ephemeral port range, reserved ports and foreign listeners on `ports`, read now. */
  hostFacts(ports: ReadonlySet<number>): Promise<HostFacts>;
  /** Strict OUTPUT's uids, the proxy networks the operator allows, the HA peer (buildGatewayPolicy). */
  readonly policyInput: AgentPolicyInput;
  /**
   * The settings in force before any were accepted since this start: those the state file's policy
   * was built under. Settings refused at the first loads (by the host, or a row the schema
   * refuses) then leave the rest of the desired state applying under these, as before the restart.
   */
  readonly inForceAtStart?: DesiredState['settings'] | null;
  /** LOAD_DEADLINE_MS unless given (tests). */
  readonly loadDeadlineMs?: number;
}

/**
 * Rows as read: `settingsRefused` when the settings row is one the schema refuses (state.settings
 * are then those read before it; repositories/desired-state.ts).
 */
export interface LoadedRows {
  readonly fingerprint: string;
  readonly state: DesiredState;
  readonly settingsRefused?: readonly Refusal[];
}

/** A read: the rows, or only the fingerprint when nothing changed since the rows known (state null, and no refusal of its own). */
export type RowsRead = LoadedRows | { readonly fingerprint: string; readonly state: null; readonly settingsRefused?: undefined };

/** The tables the agent renders from, each with its own fingerprint. */
export const DESIRED_TABLES = ['settings', 'proxies', 'mappings'] as const;
export type DesiredTable = (typeof DESIRED_TABLES)[number];
const ALL_TABLES: ReadonlySet<DesiredTable> = new Set(DESIRED_TABLES);
/** The one table each notice can change. Anything else (start, resync, handback) looks at all of them. */
const TABLE_OF_NOTICE: Readonly<Record<string, DesiredTable>> = {
  'event:proxy.status': 'proxies',
  'event:proxy.changed': 'proxies',
  'event:mapping.changed': 'mappings',
  'event:config.changed': 'settings',
};

/**
 * The tables a run must look at for these triggers (every trigger that asked for the run: requests
 * coalesce). A notice's run skips even the fingerprint of the tables it cannot change; a notice
 * that was lost is the periodic resync's, which looks at all of them.
 */
export function tablesToLoad(triggers: ReadonlySet<string>): ReadonlySet<DesiredTable> {
  const tables = new Set<DesiredTable>();
  for (const trigger of triggers) {
    const table = TABLE_OF_NOTICE[trigger];
    if (table === undefined) return ALL_TABLES;
    tables.add(table);
  }
  return tables.size === 0 ? ALL_TABLES : tables;
}

/**
 * The desired state as a policy, rebuilt only when it changed: an unchanged snapshot (same
 * fingerprint, same resolved proxy addresses, same host facts) returns the very same PolicyBuild
 * object, so the reconciler can tell "nothing changed" by identity instead of re-rendering 4096
 * mappings.
 */
export class DesiredSource {
  private last: { fingerprint: string; state: DesiredState; settingsRefused?: readonly Refusal[]; inputsKey: string; build: PolicyBuild } | null = null;
  private prepared: { mappings: DesiredState['mappings']; rejected: DesiredState['rejected']; settings: DesiredState['settings']; hostKey: string; value: PreparedMappings } | null = null;
  /** The mapped ports of the last mappings read: the same Set while the rows are the same (no re-sort of thousands of ports). */
  private ports: { mappings: DesiredState['mappings']; set: ReadonlySet<number> } | null = null;

  /** The last build of the rows last read, marked loadFailed, while they cannot be read again. */
  private lastFailed: { of: PolicyBuild; build: PolicyBuild } | null = null;

  /** The settings of the last build that applied them: what the ruleset is built under while newer ones are refused. */
  private accepted: DesiredState['settings'] | null;

  constructor(private readonly deps: DesiredSourceDeps) {
    this.accepted = deps.inForceAtStart ?? null;
  }

  /** Whether the rows were ever read since start (else a failed load throws: nothing to build from). */
  get everRead(): boolean {
    return this.last !== null;
  }

    /** The settings in force (null before the first build): the shaper's quota period. */
  get settings(): DesiredState['settings'] | null {
    return this.accepted;
  }

  /**
   * `tables`: the ones that may have changed (tablesToLoad of the run's triggers); the others are
   * the last load's. When the rows cannot be read but were read before, the build is of those rows
   * (loadFailed says why): the agent's own decisions on top of them (a client over its quota
   * blocked, listeners held) must not wait for Postgres. Before any read the error is thrown.
   */
  async load(tables: ReadonlySet<DesiredTable> = ALL_TABLES): Promise<PolicyBuild> {
    let loaded: RowsRead;
    let loadFailed: string | null = null;
    try {
      const deadlineMs = this.deps.loadDeadlineMs ?? LOAD_DEADLINE_MS;
      loaded = await withDeadline(this.deps.loadIfChanged(this.last, tables, this.accepted), deadlineMs, `the desired state was not read within ${deadlineMs} ms (Postgres silent?)`);
    } catch (error) {
      if (this.last === null || error instanceof SettingsRefused) throw error;
      loadFailed = error instanceof Error ? error.message : String(error);
      loaded = { fingerprint: this.last.fingerprint, state: null };
    }
    const build = await this.buildFrom(loaded);
    return loadFailed === null ? build : this.failedOver(build, loadFailed);
  }

  /** `build` marked as of the last rows read; the same object while the build and the reason are (the reconciler's identity check). */
  private failedOver(build: PolicyBuild, reason: string): PolicyBuild {
    if (this.lastFailed?.of !== build || this.lastFailed.build.loadFailed !== reason) this.lastFailed = { of: build, build: { ...build, loadFailed: reason } };
    return this.lastFailed.build;
  }

  private async buildFrom(loaded: RowsRead): Promise<PolicyBuild> {
    const { fingerprint, state: fresh } = loaded;
    const settingsRefused = loaded.state === null ? this.last?.settingsRefused : loaded.settingsRefused;
    const rows = fresh ?? this.last?.state;
    if (!rows) throw new Error('desired state unchanged but never loaded');
    // A settings row the schema refuses: built under the settings last accepted (the rows carry the last read).
    const state = settingsRefused !== undefined && this.accepted !== null ? { ...rows, settings: this.accepted } : rows;
    // Hostnames are resolved and the host is read on every run: both change while the rows do not.
    // The accepted settings' strict OUTPUT too: the build falls back on them if the new ones are refused.
    const strictOutput = state.settings.strictOutput || (this.accepted?.strictOutput ?? false);
    const [resolved, host] = await Promise.all([
      strictOutput ? this.deps.resolve(state.proxies.map((p) => p.host)) : new Map<string, readonly Ipv4[]>(),
      this.deps.hostFacts(this.portsOf(state.mappings)),
    ]);
    const hostKey = hostFactsKey(host);
    const inputsKey = JSON.stringify([[...resolved].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), hostKey]);
    const now = Date.now();
    // A build whose recheck time has come is stale though its inputs are not: a hold-down ended.
    const due = this.last?.build.recheckAt != null && now >= this.last.build.recheckAt;
    if (this.last && fresh === null && inputsKey === this.last.inputsKey && !due) return this.last.build;
    const built = this.buildReporting(settingsRefused, () => this.build(state, resolved, host, hostKey, now));
    // The settings row refused by the schema: reported with the host's refusals, if any, while the rest applies.
    const build = settingsRefused === undefined ? built : { ...built, settingsRefused: [...settingsRefused, ...(built.settingsRefused ?? [])] };
    this.last = { fingerprint, state: rows, ...(settingsRefused ? { settingsRefused } : {}), inputsKey, build };
    return build;
  }

  /** A refusal of the whole build names the settings row's own refusal too, when there is one. */
  private buildReporting(settingsRefused: readonly Refusal[] | undefined, build: () => PolicyBuild): PolicyBuild {
    try {
      return build();
    } catch (error) {
      if (settingsRefused === undefined || !(error instanceof SettingsRefused)) throw error;
      throw new SettingsRefused([...settingsRefused, ...error.refusals]);
    }
  }

  /**
   * The policy of `state`; when its settings are refused on this host, the policy of its proxies and
   * mappings under the settings last accepted, with the refusal. A refused setting (a LAN interface
   * this node lacks, a port window over the ephemeral range) must not freeze the kill switch: a
   * proxy that dies, a client blocked or unmapped meanwhile is enforced by the kernel, not only by
   * the forwarder. That holds when the host refuses the accepted settings too (an interface gone,
   * the port range widened over the window while the rows stay): they are what the kernel enforces
   * already, so the build keeps them, with every refusal reported, rather than apply nothing more.
   * Refused whole only when nothing was accepted yet, nor kept in the state file.
   */
  private build(state: DesiredState, resolved: ReadonlyMap<string, readonly Ipv4[]>, host: HostFacts, hostKey: string, now: number): PolicyBuild {
    const under = (settings: DesiredState['settings']): PolicyBuild => {
      const inForce = settings === state.settings ? state : { ...state, settings };
      const build = buildGatewayPolicy(inForce, resolved, this.deps.policyInput, host, this.preparedFor(inForce, host, hostKey), now);
      const guardRefused = guardRefusal(settings, host);
      const localnetRefused = localnetRefusal(host);
      return { ...build, ...(guardRefused === null ? {} : { guardRefused }), ...(localnetRefused === null ? {} : { localnetRefused }) };
    };
    const refused = settingsRefusals(state.settings, host);
    if (refused.length === 0) {
      const build = under(state.settings);
      this.accepted = state.settings;
      return build;
    }
    const accepted = this.accepted;
    if (accepted === null) throw new SettingsRefused(refused);
    const acceptedRefused = accepted === state.settings ? [] : settingsRefusals(accepted, host);
    return { ...under(accepted), settingsRefused: [...refused, ...acceptedRefused] };
  }

  /** The mapping rows' part of the build, again only when the rows, the settings or the host changed (a proxy notice changes none). */
  private preparedFor(state: DesiredState, host: HostFacts, hostKey: string): PreparedMappings {
    const memo = this.prepared;
    if (memo && memo.mappings === state.mappings && memo.rejected === state.rejected && memo.settings === state.settings && memo.hostKey === hostKey) return memo.value;
    const value = prepareMappingsUnder(state, host);
    this.prepared = { mappings: state.mappings, rejected: state.rejected, settings: state.settings, hostKey, value };
    return value;
  }

  private portsOf(mappings: DesiredState['mappings']): ReadonlySet<number> {
    if (this.ports?.mappings !== mappings) this.ports = { mappings, set: new Set(mappings.map((m) => m.listenPort)) };
    return this.ports.set;
  }
}
