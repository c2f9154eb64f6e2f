/** Types of API_SPEC.yaml (components/schemas), hand-written from the contract. */
export type Role = 'admin' | 'viewer';
export type ProxyProtocol = 'http' | 'socks5';
/** Fail closed: only "up" lets traffic through. */
export type ProxyStatus = 'unknown' | 'up' | 'down';
export type MappingStateKind = 'effective' | 'blocked' | 'not_applied';

export interface ApiErrorBody {
  error: { code: string; message: string; field?: string; details?: unknown };
}

export interface User {
  id: number;
  username: string;
  role: Role;
  createdAt: string;
  updatedAt: string;
}

export interface Session {
  token: string;
  csrfToken: string;
  expiresAt: string;
  user: User;
}

export interface UserCreate {
  username: string;
  password: string;
  role: Role;
}

export interface UserUpdate {
  role?: Role;
  password?: string;
}

export interface Proxy {
  id: number;
  name: string;
  protocol: ProxyProtocol;
  host: string;
  port: number;
  username: string | null;
  hasPassword: boolean;
  status: ProxyStatus;
  statusChangedAt: string | null;
  latencyMs: number | null;
  exitIp: string | null;
  lastError: string | null;
  lastCheckedAt: string | null;
  mappingCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface ProxyWrite {
  name?: string;
  url?: string;
  protocol?: ProxyProtocol;
  host?: string;
  port?: number;
  username?: string | null;
  /** null clears it (update), omitted keeps it. */
  password?: string | null;
}

export interface ProbeResult {
  proxyId: number;
  ok: boolean;
  latencyMs: number | null;
  exitIp: string | null;
  error: string | null;
  checkedAt: string;
}

export interface ProxyCheck {
  id: string;
  checkedAt: string;
  ok: boolean;
  latencyMs: number | null;
  exitIp: string | null;
  error: string | null;
  trigger: 'periodic' | 'on_demand' | 'upstream_failure';
}

export interface MappingState {
  state: MappingStateKind;
  reason: string | null;
}

export interface Mapping {
  id: number;
  clientIp: string;
  proxyId: number;
  proxyName: string;
  proxyStatus: ProxyStatus;
  listenPort: number;
  enabled: boolean;
  description: string;
  effective: MappingState;
  createdAt: string;
  updatedAt: string;
}

export interface MappingWrite {
  clientIp?: string;
  proxyId?: number;
  listenPort?: number;
  enabled?: boolean;
  description?: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface Cursored<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Settings {
  lanInterface: string;
  wanInterface: string;
  lanCidr: string;
  forwarderPortMin: number;
  forwarderPortMax: number;
  healthIntervalS: number;
  probeTimeoutMs: number;
  checkUrl: string;
  dnsMode: 'drop';
  strictOutput: boolean;
  failThreshold: number;
  recoverThreshold: number;
  historyRetentionDays: number;
}

export interface Status {
  proxies: { total: number; up: number; down: number; unknown: number };
  mappings: { total: number; enabled: number };
  clientsBlocked: number | null;
  activeConnections: number | null;
  agent: null | { ok: boolean; lastReconcileAt: string; durationMs: number; appliedMappings: number; error: string | null };
  forwarder: null | { at: string; activeConnections: number; listeners: number };
}

export interface AuditEntry {
  id: string;
  at: string;
  actorUserId: number | null;
  actorUsername: string | null;
  sourceIp: string | null;
  action: string;
  entityType: 'user' | 'proxy' | 'mapping' | 'settings' | 'session';
  entityId: string | null;
  before: unknown;
  after: unknown;
  requestId: string | null;
}

export interface ImportResult {
  created: number;
  updated: number;
}

/** SSE notices (`event:` = type; `data:` = the notice plus `at`). */
export type LiveEvent =
  | { type: 'proxy.status'; proxyId: number; status: ProxyStatus; previous: ProxyStatus; latencyMs: number | null; exitIp: string | null; error: string | null; at: string }
  | { type: 'mapping.changed'; mappingId: number | null; action: 'created' | 'updated' | 'deleted' | 'imported'; at: string }
  | { type: 'proxy.changed'; proxyId: number; action: 'created' | 'updated' | 'deleted'; at: string }
  | { type: 'config.changed'; at: string }
  | { type: 'agent.reconciled'; ok: boolean; durationMs: number; appliedMappings: number; blockedClients: number; error: string | null; at: string }
  | { type: 'forwarder.upstream_failure'; proxyId: number; reason: string; failures: number; at: string };

export const LIVE_EVENT_TYPES = [
  'proxy.status',
  'mapping.changed',
  'proxy.changed',
  'config.changed',
  'agent.reconciled',
  'forwarder.upstream_failure',
] as const satisfies readonly LiveEvent['type'][];
