import { clientBlockReason, type ProxyStatus } from '@pgw/domain';
import type { AgentStatus } from '@pgw/events';
import type { MappingWithProxy } from './mapping-shapes.js';

export type MappingStateKind = 'effective' | 'blocked' | 'not_applied';
export interface MappingState {
  readonly state: MappingStateKind;
  readonly reason: string | null;
  /** Effective through this backup proxy (reason on_backup, issue 17). */
  readonly backupProxyId?: number;
}

/** What the state of a mapping depends on; updatedAt in ISO 8601, as the mapping queries return it. */
type MappingFacts = Pick<MappingWithProxy, 'id' | 'clientIp' | 'enabled' | 'updatedAt'>;

/**
 * What the gateway really does for one client, judged from the agent's last reconcile rather than
 * from what is stored: a row the agent has not applied yet is never shown as effective.
 */
export function mappingState(mapping: MappingFacts, proxyStatus: ProxyStatus, agent: AgentStatus | null): MappingState {
  if (!agent) return { state: 'not_applied', reason: 'agent_unavailable' };
  if (agent.rejected.some((r) => r.mappingId === mapping.id)) return { state: 'not_applied', reason: 'rejected' };
  if (!agent.ok) return { state: 'not_applied', reason: 'agent_error' };
  if (Date.parse(mapping.updatedAt) > agent.at.getTime()) return { state: 'not_applied', reason: 'pending' };
  const applied = agent.blocked[mapping.clientIp];
  if (applied) return { state: 'blocked', reason: applied };
  // Its own proxy is down and the agent applied a backup for it (fail policy backup).
  const backup = agent.onBackup?.[mapping.clientIp];
  if (backup !== undefined && mapping.enabled) return { state: 'effective', reason: 'on_backup', backupProxyId: backup };
  const desired = clientBlockReason(mapping, proxyStatus);
  // A disabled client gets nothing whether or not the agent lists it among the blocked.
  if (desired === 'mapping_disabled') return { state: 'blocked', reason: desired };
  if (desired) return { state: 'not_applied', reason: 'pending' };
  return { state: 'effective', reason: null };
}
