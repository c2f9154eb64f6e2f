import type { RequestHandler } from 'express';
import type { OperationMatcher } from '../logic/operation-matcher.js';
import { invalid } from '../logic/domain-errors.js';
import { ApiError } from './api-error.js';

/**
 * The first stop of every request, before cookies or bodies are parsed: attach the one spec
 * operation the request is (req.operation), or let the public files (docs, console) have it, or
 * end it here with 404, 405 or 400. Nothing after this runs for a request that is no operation.
 */
export function resolveOperation(matcher: OperationMatcher, publicFiles: RequestHandler[]): RequestHandler {
  const notFound = (method: string, target: string) => new ApiError(404, 'not_found', `nothing at ${method} ${target.slice(0, 200)}`);
  const servePublic = publicFiles.reduceRight<RequestHandler>(
    (rest, handler) => (req, res, next) => handler(req, res, (error?: unknown) => (error ? next(error) : rest(req, res, next))),
    (req, _res, next) => next(notFound(req.method, req.url)),
  );
  return (req, res, next) => {
    const found = matcher.resolve(req.method, req.url);
    switch (found.kind) {
      case 'operation':
        req.operation = found.operation;
        return next();
      case 'method_not_allowed':
        res.setHeader('Allow', found.allowed.join(', '));
        return next(new ApiError(405, 'method_not_allowed', `${req.method} is not allowed here; allowed: ${found.allowed.join(', ')}`));
      case 'bad_parameter':
        return next(invalid(found.parameter, `${found.parameter}: ${found.message}`));
      case 'none':
        return servePublic(req, res, next);
    }
  };
}
