import type { Logger } from '@pgw/log';
import type { ErrorRequestHandler } from 'express';
import { DomainError, type DomainErrorKind } from '../logic/domain-errors.js';
import { ApiError } from './api-error.js';

interface ValidatorIssue {
  path?: string;
  message?: string;
}

/** `/body/proxy/port` or `/query/limit` -> `proxy.port` / `limit`: the field the client must fix. */
function fieldOf(path: string | undefined): string | undefined {
  if (!path) return undefined;
  const parts = path.split('/').filter(Boolean);
  if (['body', 'query', 'params', 'path', 'headers'].includes(parts[0] ?? '')) parts.shift();
  return parts.length ? parts.join('.') : undefined;
}

/** Postgres constraint names -> the API field they protect, for races the pre-checks could not see. */
const CONSTRAINT_FIELDS: Record<string, string> = {
  mappings_client_ip_key: 'clientIp',
  mappings_listen_port_key: 'listenPort',
  mappings_proxy_id_fkey: 'proxyId',
  proxies_name_key: 'name',
  users_username_key: 'username',
  users_username_lower: 'username',
};

/** The HTTP status and error code of each kind of domain error. */
const DOMAIN_STATUS: Readonly<Record<DomainErrorKind, readonly [number, string]>> = {
  invalid: [400, 'validation_failed'],
  not_found: [404, 'not_found'],
  conflict: [409, 'conflict'],
  stale: [412, 'precondition_failed'],
  probe_failed: [422, 'probe_failed'],
  unavailable: [503, 'unavailable'],
  probe_timeout: [504, 'probe_timeout'],
  session_ended: [401, 'unauthenticated'],
};

function toApiError(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error instanceof DomainError) {
    const [status, code] = DOMAIN_STATUS[error.kind];
    return new ApiError(status, code, error.message, error.field, error.details);
  }
  const e = error as { status?: number; type?: string; code?: string; constraint?: string; errors?: ValidatorIssue[]; message?: string };
  if (e.type === 'entity.too.large') return new ApiError(413, 'payload_too_large', 'request body is too large');
  if (e.type === 'entity.parse.failed') return new ApiError(400, 'validation_failed', 'request body is not valid JSON');
  // A body the parsers cannot read (an unknown charset or encoding, a compressed body that does not
  // decompress): the client's to fix. http-errors marks what is safe to show (expose), 4xx only.
  const parserError = e as { expose?: boolean };
  if (parserError.expose === true && typeof e.status === 'number' && !Array.isArray(e.errors)) {
    if (e.status === 415) return new ApiError(415, 'unsupported_media_type', e.message ?? 'unsupported media type');
    if (e.status === 400) return new ApiError(400, 'validation_failed', `request body could not be read: ${e.message ?? 'malformed'}`);
  }
  if (e.code === '23505' || e.code === '23503') {
    const field = e.constraint ? CONSTRAINT_FIELDS[e.constraint] : undefined;
    return new ApiError(409, 'conflict', e.code === '23505' ? `${field ?? 'value'} is already in use` : `${field ?? 'entity'} is still referenced`, field);
  }
  // express-openapi-validator errors carry status and a list of issues.
  if (typeof e.status === 'number' && Array.isArray(e.errors)) {
    const first = e.errors[0];
    const field = fieldOf(first?.path);
    if (e.status === 400) return new ApiError(400, 'validation_failed', field ? `${field}: ${first?.message}` : (first?.message ?? 'invalid request'), field, e.errors.length > 1 ? { issues: e.errors } : undefined);
    if (e.status === 404) return new ApiError(404, 'not_found', 'no such route');
    if (e.status === 405) return new ApiError(405, 'method_not_allowed', 'method not allowed on this route');
    if (e.status === 415) return new ApiError(415, 'unsupported_media_type', e.message ?? 'unsupported media type');
    if (e.status === 413) return new ApiError(413, 'payload_too_large', 'request body is too large');
  }
  return null;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const apiError = toApiError(error);
    if (!apiError) {
      logger.error('request failed', { error: error instanceof Error ? error.message : String(error), stack: error instanceof Error ? error.stack : undefined });
    } else if (apiError.status >= 500) {
      logger.warn('request failed', { code: apiError.code, error: apiError.message });
    }
    const body = apiError ?? new ApiError(500, 'internal', 'internal error; the request id is in the server log');
    if (res.headersSent) return void res.end();
    res.status(body.status).json({
      error: { code: body.code, message: body.message, ...(body.field ? { field: body.field } : {}), ...(body.details !== undefined ? { details: body.details } : {}) },
    });
  };
}
