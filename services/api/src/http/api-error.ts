/** An error the client caused or must know about; rendered as `{ error: { code, message, field?, details? } }`. */
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

export const badRequest = (field: string | undefined, message: string, details?: unknown) => new ApiError(400, 'validation_failed', message, field, details);
export const notFound = (what: string, field?: string) => new ApiError(404, 'not_found', `${what} not found`, field);
export const conflict = (field: string | undefined, message: string, details?: unknown) => new ApiError(409, 'conflict', message, field, details);
export const forbidden = (message = 'your role may not do this') => new ApiError(403, 'forbidden', message);
export const unauthenticated = (message = 'log in first') => new ApiError(401, 'unauthenticated', message);
export const unavailable = (message: string) => new ApiError(503, 'unavailable', message);
