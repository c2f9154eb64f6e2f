import { randomUUID } from 'node:crypto';
import { type Logger, withLogContext } from '@pgw/log';
import type { Histogram } from 'prom-client';
import type { RequestHandler } from 'express';

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Accepts a sane X-Request-Id or makes one, returns it, and runs the rest of the request inside
 * the log context so every line it logs carries it. Also one access-log line and the latency metric.
 */
export function requestContext(logger: Logger, duration: Histogram<'method' | 'route' | 'status'>): RequestHandler {
  return (req, res, next) => {
    const offered = req.get('x-request-id');
    const requestId = offered && CLIENT_REQUEST_ID.test(offered) ? offered : randomUUID();
    req.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The spec's template, never the raw path: other spellings must not mint label values.
      const route = req.operation?.template ?? (res.statusCode < 400 ? 'static' : 'unmatched');
      duration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      // winston formats a line before its transports drop it by level: skip the work when info is off.
      if (!logger.isLevelEnabled('info')) return;
      withLogContext({ requestId }, () =>
        logger.info('request', { method: req.method, path: req.path, status: res.statusCode, durationMs: Math.round(seconds * 10_000) / 10, ip: req.ip }),
      );
    });
    withLogContext({ requestId }, () => next());
  };
}
