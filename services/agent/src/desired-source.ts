import type { DesiredState } from '@pgw/db';
import type { Ipv4 } from '@pgw/domain';
import { buildGatewayPolicy, type PolicyBuild } from './build-policy.js';

export interface DesiredSourceDeps {
  /** The rows when their fingerprint differs from `known`, else only the fingerprint (one snapshot). */
  loadIfChanged(known: string | null): Promise<{ fingerprint: string; state: DesiredState | null }>;
  /** Strict OUTPUT only: proxy hostnames -> IPv4 addresses. */
  resolve(hosts: readonly string[]): Promise<ReadonlyMap<string, readonly Ipv4[]>>;
  readonly strictOutputUids: readonly number[];
}

/**
 * The desired state as a policy, rebuilt only when it changed: an unchanged snapshot (same
 * fingerprint, same resolved proxy addresses) returns the very same PolicyBuild object, so the
 * reconciler can tell "nothing changed" by identity instead of re-rendering 4096 mappings.
 */
export class DesiredSource {
  private last: { fingerprint: string; state: DesiredState; resolvedKey: string; build: PolicyBuild } | null = null;

  constructor(private readonly deps: DesiredSourceDeps) {}

  async load(): Promise<PolicyBuild> {
    const { fingerprint, state: fresh } = await this.deps.loadIfChanged(this.last?.fingerprint ?? null);
    const state = fresh ?? this.last?.state;
    if (!state) throw new Error('desired state unchanged but never loaded');
    // Hostnames are resolved on every run: their addresses can change while the rows do not.
    const resolved = state.settings.strictOutput ? await this.deps.resolve(state.proxies.map((p) => p.host)) : new Map<string, readonly Ipv4[]>();
    const resolvedKey = JSON.stringify([...resolved].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (this.last && fresh === null && resolvedKey === this.last.resolvedKey) return this.last.build;
    const build = buildGatewayPolicy(state, resolved, this.deps.strictOutputUids);
    this.last = { fingerprint, state, resolvedKey, build };
    return build;
  }
}
