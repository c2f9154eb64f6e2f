import type { MappingRow } from '@pgw/db';
import type { AgentStatus } from '@pgw/events';
import type { Mapping, MappingUdpDropped } from '../contract/types.js';
import { mappingState } from '../logic/mapping-state.js';
import { type QuotaCounts, quotaOf } from '../logic/quota-view.js';
import type { MappingWithProxy } from './ports.js';

/** The columns an operator sets on a mapping: what the API returns of them and what the audit log keeps. */
function operatorColumns(row: Omit<MappingRow, 'createdAt' | 'updatedAt'>) {
  return {
    clientIp: row.clientIp,
    proxyId: row.proxyId,
    listenPort: row.listenPort,
    enabled: row.enabled,
    description: row.description,
    tags: row.tags,
    macAddress: row.macAddress,
    privateDestinations: row.privateDestinations,
    failPolicy: row.failPolicy,
    backupProxyIds: row.backupProxyIds,
    rateDownKbit: row.rateDownKbit,
    rateUpKbit: row.rateUpKbit,
    quotaBytes: row.quotaBytes === null ? null : Number(row.quotaBytes),
  };
}

/** A mapping as the API returns it, with what the gateway really does for its client (its UDP too: udpDropped, udp-drops.ts). */
export function toMappingDto(row: MappingWithProxy, agent: AgentStatus | null, usage: QuotaCounts = new Map(), udpDropped: MappingUdpDropped = null): Mapping {
  return {
    id: row.id,
    ...operatorColumns(row),
    proxyName: row.proxyName,
    proxyStatus: row.proxyStatus,
    quota: quotaOf(row, agent, usage),
    effective: mappingState(row, row.proxyStatus, agent),
    udpDropped,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** What the audit log keeps of a mapping: the columns an operator sets, its id and its quota epoch. */
export function auditedMapping(row: MappingRow) {
  return { id: row.id, ...operatorColumns(row), quotaEpoch: row.quotaEpoch };
}
