/**
 * Names for the request and response types of API_SPEC.yaml, as generated into schema.ts
 * (`npm run generate -w @pgw/api`); none is written by hand. The api and the console both use them
 * (the console through `@pgw/api/contract`).
 */
import type { components, operations } from './schema.js';

export type { components, operations, paths } from './schema.js';

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
export type MappingQuota = Schemas['MappingQuota'];
/** Why a TPROXY client's UDP is dropped, as the forwarder reported it (null: nothing dropped). */
export type MappingUdpDropped = Schemas['MappingUdpDropped'];
export type ClientUsage = Schemas['ClientUsage'];
export type UsagePoint = Schemas['UsagePoint'];
export type UsageResolution = Schemas['UsageResolution'];
export type TopTalker = Schemas['TopTalker'];

export type Settings = Schemas['Settings'];
export type Status = Schemas['Status'];
export type GatewayNodes = Schemas['GatewayNodes'];
export type GatewayNode = Schemas['GatewayNode'];
export type AuditEntry = Schemas['AuditEntry'];
export type Device = Schemas['Device'];
export type DeviceList = Schemas['DeviceList'];
export type BulkMappingRequest = Schemas['BulkMappingRequest'];
export type BulkMappingResult = Schemas['BulkMappingResult'];
export type ImportPreview = Schemas['ImportPreview'];

// Response bodies the spec defines inline, per operation.
export type CsrfToken = JsonBody<operations['getCsrfToken']['responses'][200]>;
export type UserList = JsonBody<operations['listUsers']['responses'][200]>;
export type ProxyList = JsonBody<operations['listProxies']['responses'][200]>;
export type ProxyCheckPage = JsonBody<operations['listProxyChecks']['responses'][200]>;
export type MappingPage = JsonBody<operations['listMappings']['responses'][200]>;
export type ImportResult = JsonBody<operations['importMappings']['responses'][200]>;
export type AuditPage = JsonBody<operations['listAudit']['responses'][200]>;
export type TopTalkers = JsonBody<operations['getTopTalkers']['responses'][200]>;
/** The audit search's query parameters; the CSV export takes the same (with a larger limit). */
export type AuditQuery = NonNullable<operations['listAudit']['parameters']['query']>;
