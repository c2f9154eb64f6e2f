/** Names for the types of API_SPEC.yaml, as generated into schema.d.ts (`npm run generate`); none is written by hand. */
import type { components, operations } from './schema.js';

type Schemas = components['schemas'];
type JsonBody<Response> = Response extends { content: { 'application/json': infer Body } } ? Body : never;

export type Role = Schemas['Role'];
export type ProxyProtocol = Schemas['ProxyProtocol'];
export type ProxyHandshakeMode = Schemas['ProxyHandshakeMode'];
/** Fail closed: only "up" lets traffic through. */
export type ProxyStatus = Schemas['ProxyStatus'];

export type ApiErrorBody = Schemas['Error'];

export type User = Schemas['User'];
export type LoginRequest = Schemas['LoginRequest'];
export type Session = Schemas['Session'];
export type ChangePasswordRequest = Schemas['ChangePasswordRequest'];
export type UserCreate = Schemas['UserCreate'];
export type UserUpdate = Schemas['UserUpdate'];

export type Proxy = Schemas['Proxy'];
export type ProxyCreate = Schemas['ProxyCreate'];
/** `password` null clears it, omitted keeps it. */
export type ProxyUpdate = Schemas['ProxyUpdate'];
export type ProbeResult = Schemas['ProbeResult'];

export type MappingState = Schemas['MappingState'];
export type Mapping = Schemas['Mapping'];
export type MappingCreate = Schemas['MappingCreate'];
export type MappingUpdate = Schemas['MappingUpdate'];

export type Settings = Schemas['Settings'];
export type Status = Schemas['Status'];
export type AuditEntry = Schemas['AuditEntry'];

// Response bodies the spec defines inline, per operation.
export type CsrfToken = JsonBody<operations['getCsrfToken']['responses'][200]>;
export type UserList = JsonBody<operations['listUsers']['responses'][200]>;
export type ProxyList = JsonBody<operations['listProxies']['responses'][200]>;
export type ProxyCheckPage = JsonBody<operations['listProxyChecks']['responses'][200]>;
export type MappingPage = JsonBody<operations['listMappings']['responses'][200]>;
export type ImportResult = JsonBody<operations['importMappings']['responses'][200]>;
export type AuditPage = JsonBody<operations['listAudit']['responses'][200]>;

/**
 * SSE notices (`event:` = type; `data:` = the notice plus `at`). The spec describes them in prose only
 * (GET /api/v1/events), so these follow @pgw/events (packages/events/src/events.ts).
 */
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
