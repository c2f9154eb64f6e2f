import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type RequestHandler } from 'express';
import { isConsolePath } from '../logic/console-path.js';

/**
 * Serves the built console with an SPA fallback (unknown paths get index.html, for vue-router's
 * history mode), for GET and HEAD on clean paths outside the api's prefixes only (isConsolePath).
 */
export function consoleRoutes(uiDir: string, apiPrefixes: ReadonlySet<string>): RequestHandler | null {
  const index = join(uiDir, 'index.html');
  if (!existsSync(index)) return null;
  // No directory redirects: /assets is not a second spelling of /assets/.
  const files = express.static(uiDir, { index: 'index.html', maxAge: '1h', redirect: false });
  return (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !isConsolePath(req.url, apiPrefixes)) return next();
    files(req, res, (error?: unknown) => {
      if (error || !req.accepts('html')) return next(error);
      res.sendFile(index);
    });
  };
}
