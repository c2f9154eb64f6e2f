/**
 * What went wrong, in the terms of the use case: the input is invalid, something is missing or in
 * conflict, the proxy failed its probe, a dependency is down. logic/ and services/ throw these and
 * know nothing of HTTP; http/error-handler.ts maps each kind to its status and error code.
 */
export type DomainErrorKind = 'invalid' | 'not_found' | 'conflict' | 'stale' | 'probe_failed' | 'probe_timeout' | 'unavailable' | 'session_ended';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    /** The input field the caller must fix, when there is one. */
    readonly field?: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const invalid = (field: string | undefined, message: string, details?: unknown) => new DomainError('invalid', message, field, details);
export const notFound = (what: string, field?: string) => new DomainError('not_found', `${what} not found`, field);
export const conflict = (field: string | undefined, message: string, details?: unknown) => new DomainError('conflict', message, field, details);
/** The change was built on a version that is no longer the stored one (If-Match). */
export const stale = (message: string) => new DomainError('stale', message);
export const unavailable = (message: string) => new DomainError('unavailable', message);
export const sessionEnded = () => new DomainError('session_ended', 'the session ended while the request ran (its role or password was changed, or its user deleted): nothing was changed');
