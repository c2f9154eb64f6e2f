import type { AgentStatus } from './logic/component-status.js';
import { mappingState } from './logic/mapping-state.js';
import type { MappingWithProxy } from './services/ports.js';

export type MappingDto = ReturnType<typeof toMappingDto>;

export function toMappingDto(row: MappingWithProxy, agent: AgentStatus | null) {
  return {
    id: row.id,
    clientIp: row.clientIp,
    proxyId: row.proxyId,
    proxyName: row.proxyName,
    proxyStatus: row.proxyStatus,
    listenPort: row.listenPort,
    enabled: row.enabled,
    description: row.description,
    macAddress: row.macAddress,
    privateDestinations: row.privateDestinations,
    effective: mappingState(row, row.proxyStatus, agent),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** What the audit log keeps of a mapping. */
export function auditedMapping(row: {
  id: number;
  clientIp: string;
  proxyId: number;
  listenPort: number;
  enabled: boolean;
  description: string;
  macAddress: string | null;
  privateDestinations: 'deny' | 'allow' | null;
}) {
  return {
    id: row.id,
    clientIp: row.clientIp,
    proxyId: row.proxyId,
    listenPort: row.listenPort,
    enabled: row.enabled,
    description: row.description,
    macAddress: row.macAddress,
    privateDestinations: row.privateDestinations,
  };
}
