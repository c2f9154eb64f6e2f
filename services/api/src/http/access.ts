import type { RequestHandler } from 'express';
import { ApiError, forbidden, unauthenticated } from './api-error.js';
import type { ApiContext } from '../context.js';

/** public: anyone; user: any logged-in user (viewer or admin); admin: admins only. */
type Access = 'public' | 'user' | 'admin';

/**
 * Who may call each operation of API_SPEC.yaml, by operationId. An operation missing here is
 * refused, so a new route is closed until someone decides who may use it.
 */
export const ACCESS: Readonly<Record<string, Access>> = {
  login: 'public',
  logout: 'user',
  getMe: 'user',
  getCsrfToken: 'user',
  changePassword: 'user',
  listUsers: 'admin',
  createUser: 'admin',
  getUser: 'admin',
  updateUser: 'admin',
  deleteUser: 'admin',
  listProxies: 'user',
  createProxy: 'admin',
  getProxy: 'user',
  updateProxy: 'admin',
  deleteProxy: 'admin',
  checkProxy: 'admin',
  listProxyChecks: 'user',
  listProxyExitIps: 'user',
  listMappings: 'user',
  createMapping: 'admin',
  getMapping: 'user',
  updateMapping: 'admin',
  deleteMapping: 'admin',
  enableMapping: 'admin',
  disableMapping: 'admin',
  resetMappingQuota: 'admin',
  getMappingUsage: 'user',
  getTopTalkers: 'user',
  exportMappings: 'user',
  importMappings: 'admin',
  listDevices: 'user',
  bulkMappings: 'admin',
  previewMappingsImport: 'admin',
  getSettings: 'user',
  putSettings: 'admin',
  getStatus: 'user',
  listNodes: 'user',
  listAudit: 'user',
  exportAudit: 'user',
  streamEvents: 'user',
  healthz: 'public',
  readyz: 'public',
};

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Enforces ACCESS for the operation resolveOperation attached (none: refused), and CSRF for cookie
 * sessions. The decision reads only the operation, never the path, so no spelling of a path can
 * reach a handler under another operation's rule.
 */
export function enforceAccess(ctx: ApiContext): RequestHandler {
  return (req, _res, next) => {
    const operationId = req.operation?.operationId;
    const access = operationId && Object.hasOwn(ACCESS, operationId) ? ACCESS[operationId] : undefined;
    if (!access) throw new ApiError(403, 'forbidden', 'this operation has no access rule');
    if (access === 'public') return next();
    if (!req.auth) throw unauthenticated();
    if (access === 'admin' && req.auth.role !== 'admin') throw forbidden(`${operationId} needs the admin role`);
    if (req.auth.via === 'cookie' && !SAFE_METHODS.has(req.method) && !ctx.csrf.validateRequest(req)) {
      throw new ApiError(403, 'csrf_invalid', 'missing or wrong X-CSRF-Token header (get one from login or GET /api/v1/auth/csrf)');
    }
    next();
  };
}
