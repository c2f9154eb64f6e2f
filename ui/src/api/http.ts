import { ApiError } from '@pgw/api/contract/api-error';
import type { ApiErrorBody, CsrfToken, User } from './types.js';

export { ApiError };

export const API_BASE = '/api/v1';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

let csrfToken: string | null = null;
let onUnauthenticated: () => void = () => undefined;
/** Who this tab is signed in as: a renewed CSRF token must be that user's (renewCsrfToken). */
let sessionUserId: number | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function setSessionUserId(id: number | null): void {
  sessionUserId = id;
}

/** Called when a request answers 401 (session expired or revoked elsewhere). */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  text?: { body: string; contentType: string };
  query?: Record<string, string | number | undefined>;
  /** The login call: a 401 there is a wrong password, not an expired session. */
  anonymous?: boolean;
  accept?: string;
  /** The version (ETag) a change was built on: the api refuses it (412) if another one is stored. */
  ifMatch?: string;
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return (await exchange<T>(path, options)).body;
}

/** request() with the answer's version (its ETag), for a later change's `ifMatch`. */
export async function requestVersioned<T>(path: string, options: RequestOptions = {}): Promise<{ body: T; version: string | null }> {
  const { body, headers } = await exchange<T>(path, options);
  return { body, version: headers.get('ETag') };
}

async function exchange<T>(path: string, options: RequestOptions, csrfRenewed = false): Promise<{ body: T; headers: Headers }> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { Accept: options.accept ?? 'application/json' };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.text) {
    headers['Content-Type'] = options.text.contentType;
    body = options.text.body;
  }
  if (UNSAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  if (options.ifMatch !== undefined) headers['If-Match'] = options.ifMatch;
  const response = await fetch(API_BASE + path + queryString(options.query), { method, headers, body, credentials: 'same-origin' });
  if (response.status === 204) return { body: undefined as T, headers: response.headers };
  const contentType = response.headers.get('Content-Type') ?? '';
  if (!response.ok) {
    const error = await readError(response, contentType);
    if (response.status === 401 && !options.anonymous) onUnauthenticated();
    // Another tab's login or password change gave the browser a new session and CSRF cookie: this
    // tab's token is stale, and every change it asks for (its Log out too) would be refused. The
    // request was refused before it did anything: asked again once, with a token for this cookie.
    if (error.code === 'csrf_invalid' && !csrfRenewed && UNSAFE.has(method) && (await renewCsrfToken())) return exchange(path, options, true);
    throw error;
  }
  return { body: (contentType.includes('application/json') ? await response.json() : await response.text()) as T, headers: response.headers };
}

/**
 * A CSRF token for the session cookie the browser holds now, when that session is still this tab's
 * user; false otherwise. Another login in the browser (another user's) took the cookie over: this
 * tab is signed out instead, never made to act as that user.
 */
async function renewCsrfToken(): Promise<boolean> {
  const get = (path: string) => fetch(API_BASE + path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  try {
    const me = await get('/auth/me');
    if (!me.ok) return false;
    if (((await me.json()) as User).id !== sessionUserId) {
      onUnauthenticated();
      return false;
    }
    const response = await get('/auth/csrf');
    if (!response.ok) return false;
    csrfToken = ((await response.json()) as CsrfToken).csrfToken;
    return true;
  } catch {
    return false;
  }
}

async function readError(response: Response, contentType: string): Promise<ApiError> {
  if (contentType.includes('application/json')) {
    try {
      const body = (await response.json()) as Partial<ApiErrorBody>;
      if (body.error) return new ApiError(response.status, body.error.code, body.error.message, body.error.field, body.error.details);
    } catch {
      // Fall through to the generic error below.
    }
  }
  const retry = response.headers.get('Retry-After');
  const suffix = retry ? ` (retry after ${retry} s)` : '';
  return new ApiError(response.status, 'http_' + response.status, `${response.status} ${response.statusText}${suffix}`.trim());
}

function queryString(query: RequestOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, String(value));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** The message to show for any failure (network errors included). */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return 'The gateway API cannot be reached (network error).';
  return error instanceof Error ? error.message : String(error);
}
