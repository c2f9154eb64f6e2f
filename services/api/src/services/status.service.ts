import type { AgentStatus, ForwarderStatus } from '@pgw/events';
import type { Status } from '../contract/types.js';
import type { DashboardCounts } from './ports.js';
import type { ReadCache } from './read-cache.js';

/** The dashboard: counts from Postgres, and what the agent and the forwarder last reported (null while unknown). */
export class StatusService {
  constructor(
    private readonly deps: {
      readonly counts: () => Promise<DashboardCounts>;
      readonly components: () => Promise<{ agent: AgentStatus | null; forwarder: ForwarderStatus | null }>;
      readonly cache: ReadCache;
    },
  ) {}

  dashboard(): Promise<Status> {
    return this.deps.cache.get('status', () => this.load());
  }

  private async load(): Promise<Status> {
    const [{ proxies, mappings }, { agent, forwarder }] = await Promise.all([this.deps.counts(), this.deps.components()]);
    return {
      proxies: { total: proxies.up + proxies.down + proxies.unknown, ...proxies },
      mappings,
      clientsBlocked: agent ? Object.keys(agent.blocked).length : null,
      activeConnections: forwarder ? forwarder.activeConnections : null,
      agent: agent && {
        ok: agent.ok, lastReconcileAt: agent.at.toISOString(), durationMs: agent.durationMs, appliedMappings: agent.appliedMappings, error: agent.error, refusals: agent.refusals,
      },
      forwarder: forwarder && { at: forwarder.at.toISOString(), activeConnections: forwarder.activeConnections, listeners: forwarder.listeners, refused: forwarder.refused },
    };
  }
}
