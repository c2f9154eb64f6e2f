import type { ProxyRow } from '@pgw/db';

export interface ProxyDto {
  id: number;
  name: string;
  protocol: 'http' | 'socks5';
  host: string;
  port: number;
  username: string | null;
  hasPassword: boolean;
  status: 'unknown' | 'up' | 'down';
  statusChangedAt: string | null;
  latencyMs: number | null;
  exitIp: string | null;
  lastError: string | null;
  lastCheckedAt: string | null;
  handshakeMode: 'auto' | 'pipelined' | 'sequential';
  handshakeLearned: 'pipelined' | 'sequential' | null;
  mappingCount: number;
  createdAt: Date;
  updatedAt: Date;
}

/** The only shape a proxy leaves the API in: the sealed password never does. */
export function toProxyDto(row: ProxyRow, mappingCount: number): ProxyDto {
  return {
    id: row.id,
    name: row.name,
    protocol: row.protocol,
    host: row.host,
    port: row.port,
    username: row.username,
    hasPassword: row.passwordEnc !== null,
    status: row.status,
    statusChangedAt: row.statusChangedAt?.toISOString() ?? null,
    latencyMs: row.latencyMs,
    exitIp: row.exitIp,
    lastError: row.lastError,
    lastCheckedAt: row.lastCheckedAt?.toISOString() ?? null,
    handshakeMode: row.handshakeMode,
    handshakeLearned: row.handshakeLearned,
    mappingCount,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** What the audit log keeps of a proxy: its API shape (never the sealed password). */
export const auditedProxy = (row: ProxyRow) => toProxyDto(row, 0);
