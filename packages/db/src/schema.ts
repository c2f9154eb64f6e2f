import type { ProbeTrigger } from '@pgw/domain';
import type { ColumnType, Generated, GeneratedAlways, Insertable, Selectable, Updateable } from 'kysely';

/** Tables as kysely sees them (CamelCasePlugin maps snake_case columns). Mirrors migrations/*.sql. */
export interface Database {
  users: UsersTable;
  proxies: ProxiesTable;
  mappings: MappingsTable;
  settings: SettingsTable;
  proxyChecks: ProxyChecksTable;
  auditLog: AuditLogTable;
  revokedTokens: RevokedTokensTable;
}

type CreatedAt = ColumnType<Date, never, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;
/** bigserial comes back from pg as a string. */
type BigId = ColumnType<string, never, never>;

export interface UsersTable {
  id: Generated<number>;
  username: string;
  passwordHash: string;
  role: 'admin' | 'viewer';
  tokenVersion: Generated<number>;
  createdAt: CreatedAt;
  updatedAt: UpdatedAt;
}

export interface ProxiesTable {
  id: Generated<number>;
  name: string;
  protocol: 'http' | 'socks5';
  host: string;
  port: number;
  username: string | null;
  /** Sealed (crypto's `v1` or `v2`); pgw_api may write it and never select it (migration 0027). */
  passwordEnc: string | null;
  /** password_enc IS NOT NULL, what the api reads instead (migration 0027). */
  hasPassword: GeneratedAlways<boolean>;
  status: Generated<'unknown' | 'up' | 'down'>;
  /** SOCKS5 handshake setting and what mode auto learned (migration 0008). */
  handshakeMode: Generated<'auto' | 'pipelined' | 'sequential' | 'early-data'>;
  handshakeLearned: Generated<'pipelined' | 'sequential' | 'early-data' | null>;
  /** The exit IP should differ from the address the proxy is dialed at (migration 0017; alarm `proxy_address`). */
  exitDiffers: Generated<boolean>;
  /** Whether the proxy carries UDP (SOCKS5 UDP ASSOCIATE), as the health probe learned it; null: not yet (migration 0020). */
  udpSupport: Generated<'supported' | 'unsupported' | null>;
  /** When the probe last asked; asked again after UDP_RELEARN_MS (services/health/src/learning/udp-learning.ts). */
  udpCheckedAt: Generated<Date | null>;
  statusChangedAt: Date | null;
  latencyMs: number | null;
  exitIp: string | null;
  lastError: string | null;
  lastCheckedAt: Date | null;
  consecutiveSuccesses: Generated<number>;
  consecutiveFailures: Generated<number>;
  /** When the probe whose result the status holds started, by Postgres' clock (migration 0022): an earlier one's result goes into the history only. */
  lastProbeStartedAt: Generated<Date | null>;
  createdAt: CreatedAt;
  updatedAt: UpdatedAt;
}

export interface MappingsTable {
  id: Generated<number>;
  clientIp: string;
  proxyId: number;
  listenPort: number;
  enabled: Generated<boolean>;
  description: Generated<string>;
  privateDestinations: Generated<'deny' | 'allow' | null>;
  /** macaddr, lower-case colon form (migration 0006); null: not pinned. */
  macAddress: Generated<string | null>;
  /** What the client gets while its proxy is down, and the proxies to use then, in order (migration 0013). */
  failPolicy: Generated<'closed' | 'backup'>;
  backupProxyIds: Generated<number[]>;
  /** Operator's groups (migration 0012): @pgw/domain MAPPING_TAG spellings, at most 16, no repeat. */
  tags: Generated<string[]>;
  /** kbit/s, null: unlimited; bigint quota_bytes comes back from pg as a string (migration 0009). */
  rateDownKbit: Generated<number | null>;
  rateUpKbit: Generated<number | null>;
  quotaBytes: ColumnType<string | null, number | null | undefined, number | null>;
  /** Raised by an operator's quota reset. */
  quotaEpoch: Generated<number>;
  createdAt: CreatedAt;
  updatedAt: UpdatedAt;
}

export interface SettingsTable {
  id: Generated<number>;
  lanInterface: string;
  wanInterface: string;
  lanCidr: string;
  forwarderPortMin: number;
  forwarderPortMax: number;
  healthIntervalS: number;
  probeTimeoutMs: number;
  checkUrl: string;
  dnsMode: 'drop' | 'proxy';
  /** With dnsMode proxy, the resolver clients' DNS is sent to through their proxy; null: the one asked (migration 0019). */
  dnsUpstream: Generated<string | null>;
  /** Migration 0015 (issue 15). */
  interceptMode: Generated<'dnat' | 'tproxy'>;
  strictOutput: boolean;
  failThreshold: number;
  recoverThreshold: number;
  historyRetentionDays: number;
  privateDestinations: 'deny' | 'allow';
  /** Seconds a recovered proxy must be up before its clients leave their backup (migration 0013). */
  backupHoldDownS: Generated<number>;
  /** Quota periods and per-client metrics (migration 0010, issue 16). */
  quotaPeriod: Generated<'daily' | 'monthly'>;
  quotaResetTimezone: Generated<string>;
  perClientMetrics: Generated<boolean>;
  /** Accounting history retention per resolution (migration 0011, issue 16). */
  usageMinuteRetentionHours: Generated<number>;
  usageHourRetentionDays: Generated<number>;
  usageDayRetentionDays: Generated<number>;
  updatedAt: UpdatedAt;
}

export type { ProbeTrigger };

export interface ProxyChecksTable {
  id: BigId;
  proxyId: number;
  checkedAt: ColumnType<Date, Date | undefined, never>;
  ok: boolean;
  latencyMs: number | null;
  exitIp: string | null;
  error: string | null;
  trigger: ProbeTrigger;
}

export interface AuditLogTable {
  id: BigId;
  at: ColumnType<Date, Date | undefined, never>;
  actorUserId: number | null;
  actorUsername: string | null;
  sourceIp: string | null;
  /** The client's User-Agent (cut to 512 characters); 0003_audit_user_agent.sql. */
  userAgent: string | null;
  action: string;
  entityType: string;
  entityId: string | null;
  before: ColumnType<unknown, string | null, never>;
  after: ColumnType<unknown, string | null, never>;
  requestId: string | null;
}

export interface RevokedTokensTable {
  jti: string;
  expiresAt: Date;
}

export type UserRow = Selectable<UsersTable>;
export type ProxyRow = Selectable<ProxiesTable>;
/** A proxy as pgw_api may select it: every column but the sealed password (migration 0027). */
export type ApiProxyRow = Omit<ProxyRow, 'passwordEnc'>;
export type NewProxy = Insertable<ProxiesTable>;
export type ProxyUpdate = Updateable<ProxiesTable>;
export type MappingRow = Selectable<MappingsTable>;
export type SettingsRow = Selectable<SettingsTable>;
export type ProxyCheckRow = Selectable<ProxyChecksTable>;
export type AuditLogRow = Selectable<AuditLogTable>;
