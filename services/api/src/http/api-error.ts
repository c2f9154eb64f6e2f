/**
 * An error of the HTTP layer itself (authentication, access, throttles, routing), rendered as
 * `{ error: { code, message, field?, details? } }`. Use cases throw DomainError (domain-errors.ts)
 * instead; the error handler gives those their status.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const forbidden = (message = 'your role may not do this') => new ApiError(403, 'forbidden', message);
export const unauthenticated = (message = 'log in first') => new ApiError(401, 'unauthenticated', message);
