import type { RequestHandler } from 'express';
import { ApiError } from './api-error.js';

/**
 * Input the parsers and the spec's types let through but the stores cannot take. Postgres refuses a
 * NUL character in any text value (error 22021): every string of a request (query, JSON body, CSV
 * body) is checked once here, so such a request is a 400 naming its field, not a 500 with a stack
 * in the log, and changes nothing. A login whose username held one used to fail inside the password
 * queue, an error the throttle did not count.
 */
export const refuseNul: RequestHandler = (req, _res, next) => {
  // A CSV body is one string: found at the empty path, "request body".
  const found = nulIn(req.query, []) ?? nulIn(req.body, []);
  if (found === null) return next();
  const field = found.join('.');
  next(new ApiError(400, 'validation_failed', `${field || 'request body'}: must not contain a NUL character`, field || undefined));
};

/** The path to the first string (value or key) that holds a NUL, or null. */
function nulIn(value: unknown, path: string[]): string[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (value === null || typeof value !== 'object') return null;
  for (const [key, inner] of Object.entries(value)) {
    if (key.includes('\u0000')) return [...path, key.replaceAll('\u0000', '\\0')];
    const found = nulIn(inner, Array.isArray(value) ? path : [...path, key]);
    if (found !== null) return found;
  }
  return null;
}

/**
 * cookie-parser reads a value that starts with "j:" as JSON; the libraries behind it (csrf-csrf's
 * token check, the session's) take a cookie as a string and threw on a number or an object. No
 * cookie of this api is JSON: any other is dropped before they look.
 */
export const onlyStringCookies: RequestHandler = (req, _res, next) => {
  const cookies = req.cookies as Record<string, unknown> | undefined;
  if (cookies) for (const [name, value] of Object.entries(cookies)) if (typeof value !== 'string') delete cookies[name];
  next();
};
