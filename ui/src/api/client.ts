import { request, requestVersioned } from './http.js';
import type {
  AuditPage,
  AuditQuery,
  BulkMappingRequest,
  BulkMappingResult,
  ChangePasswordRequest,
  ClientUsage,
  CsrfToken,
  DeviceList,
  GatewayNodes,
  ImportPreview,
  ImportResult,
  LoginRequest,
  Mapping,
  MappingCreate,
  MappingPage,
  MappingUpdate,
  ProbeResult,
  Proxy,
  ProxyCheckPage,
  ProxyCreate,
  ProxyList,
  ProxyUpdate,
  Session,
  Settings,
  Status,
  TopTalkers,
  User,
  UserCreate,
  UserList,
  UserUpdate,
} from './types.js';

/** One function per operation of API_SPEC.yaml that the console uses. */
export const api = {
  login: (username: string, password: string) =>
    request<Session>('/auth/login', { method: 'POST', json: { username, password } satisfies LoginRequest, anonymous: true }),
  logout: () => request<void>('/auth/logout', { method: 'POST' }),
  me: () => request<User>('/auth/me'),
  csrf: () => request<CsrfToken>('/auth/csrf'),
  changePassword: (currentPassword: string, newPassword: string) =>
    request<Session>('/auth/password', { method: 'POST', json: { currentPassword, newPassword } satisfies ChangePasswordRequest }),

  listUsers: () => request<UserList>('/users'),
  createUser: (body: UserCreate) => request<User>('/users', { method: 'POST', json: body }),
  updateUser: (id: number, body: UserUpdate) => request<User>(`/users/${id}`, { method: 'PATCH', json: body }),
  deleteUser: (id: number) => request<void>(`/users/${id}`, { method: 'DELETE' }),

  listProxies: () => request<ProxyList>('/proxies'),
  createProxy: (body: ProxyCreate) => request<Proxy>('/proxies', { method: 'POST', json: body }),
  updateProxy: (id: number, body: ProxyUpdate) => request<Proxy>(`/proxies/${id}`, { method: 'PATCH', json: body }),
  deleteProxy: (id: number) => request<void>(`/proxies/${id}`, { method: 'DELETE' }),
  checkProxy: (id: number) => request<ProbeResult>(`/proxies/${id}/check`, { method: 'POST' }),
  listProxyChecks: (id: number, limit: number) => request<ProxyCheckPage>(`/proxies/${id}/checks`, { query: { limit } }),

  listMappings: (offset: number, limit: number) => request<MappingPage>('/mappings', { query: { offset, limit } }),
  getMapping: (id: number) => request<Mapping>(`/mappings/${id}`),
  createMapping: (body: MappingCreate) => request<Mapping>('/mappings', { method: 'POST', json: body }),
  updateMapping: (id: number, body: MappingUpdate) => request<Mapping>(`/mappings/${id}`, { method: 'PATCH', json: body }),
  deleteMapping: (id: number) => request<void>(`/mappings/${id}`, { method: 'DELETE' }),
  setMappingEnabled: (id: number, enabled: boolean) =>
    request<Mapping>(`/mappings/${id}/${enabled ? 'enable' : 'disable'}`, { method: 'POST' }),
  resetMappingQuota: (id: number) => request<Mapping>(`/mappings/${id}/quota-reset`, { method: 'POST' }),
  getMappingUsage: (id: number, from: string, to: string) => request<ClientUsage>(`/mappings/${id}/usage`, { query: { from, to } }),
  getTopTalkers: (limit: number) => request<TopTalkers>('/usage/top', { query: { limit } }),
  exportMappings: () => request<string>('/mappings/export', { accept: 'text/csv' }),
  /** `version`: the preview's, so that a mapping changed since the operator read it refuses the import (412). */
  importMappings: (csv: string, version?: string) =>
    request<ImportResult>('/mappings/import', { method: 'POST', text: { body: csv, contentType: 'text/csv' }, ...(version !== undefined ? { ifMatch: version } : {}) }),

  listDevices: () => request<DeviceList>('/devices'),
  previewMappingsImport: (csv: string) =>
    request<ImportPreview>('/mappings/import/preview', { method: 'POST', text: { body: csv, contentType: 'text/csv' } }),
  bulkMappings: (body: BulkMappingRequest) => request<BulkMappingResult>('/mappings/bulk', { method: 'POST', json: body }),
  listNodes: () => request<GatewayNodes>('/nodes'),

  /** With their version: a save built on them names it, and is refused (412) if someone else saved since. */
  getSettings: () => requestVersioned<Settings>('/settings'),
  putSettings: (body: Settings, version: string | null) => requestVersioned<Settings>('/settings', { method: 'PUT', json: body, ...(version ? { ifMatch: version } : {}) }),
  getStatus: () => request<Status>('/status'),
  listAudit: (limit: number) => request<AuditPage>('/audit', { query: { limit } }),
  searchAudit: (query: AuditQuery) => request<AuditPage>('/audit', { query }),
  exportAudit: (query: AuditQuery) => request<string>('/audit/export', { query, accept: 'text/csv' }),
};

/** Every mapping, page by page (the API caps a page at 1000). */
export async function listAllMappings(): Promise<Mapping[]> {
  const pageSize = 1000;
  const all: Mapping[] = [];
  for (let offset = 0; ; offset += pageSize) {
    const page = await api.listMappings(offset, pageSize);
    all.push(...page.items);
    if (page.items.length === 0 || all.length >= page.total) return all;
  }
}
