import type { Response } from 'express';
import { ApiError } from '../contract/api-error.js';

export { ApiError };

export const forbidden = (message = 'your role may not do this') => new ApiError(403, 'forbidden', message);
export const unauthenticated = (message = 'log in first') => new ApiError(401, 'unauthenticated', message);

/** 429 with Retry-After: `seconds` is when trying again makes sense. */
export function tooMany(res: Response, seconds: number, message: string): ApiError {
  res.setHeader('Retry-After', String(seconds));
  return new ApiError(429, 'too_many_requests', message);
}

