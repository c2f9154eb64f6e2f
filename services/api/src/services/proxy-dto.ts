import type { ApiProxyRow } from '@pgw/db';
import type { Proxy } from '../contract/types.js';

/** The only shape a proxy leaves the API in: the sealed password never does. */
export function toProxyDto(row: ApiProxyRow, mappingCount: number): Proxy {
  return {
    id: row.id,
    name: row.name,
    protocol: row.protocol,
    host: row.host,
    port: row.port,
    username: row.username,
    hasPassword: row.hasPassword,
    status: row.status,
    statusChangedAt: row.statusChangedAt?.toISOString() ?? null,
    latencyMs: row.latencyMs,
    exitIp: row.exitIp,
    lastError: row.lastError,
    lastCheckedAt: row.lastCheckedAt?.toISOString() ?? null,
    handshakeMode: row.handshakeMode,
    handshakeLearned: row.handshakeLearned,
    udpSupport: row.udpSupport,
    exitDiffers: row.exitDiffers,
    mappingCount,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** What the audit log keeps of a proxy: its API shape (never the sealed password). */
export const auditedProxy = (row: ApiProxyRow) => toProxyDto(row, 0);
