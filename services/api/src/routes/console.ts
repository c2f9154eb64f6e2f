import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type RequestHandler } from 'express';
import { isConsolePath } from '../logic/console-path.js';

/** Vite's build names every asset by its content: a file there never changes under its name. */
const HASHED = '/assets/';
/** A path with a file name's extension asks for a file: missing, it is not the page. */
const FILE_NAME = /\/[^/]*\.[A-Za-z0-9]+$/;

/**
 * Serves the built console with an SPA fallback (unknown paths get index.html, for vue-router's
 * history mode), for GET and HEAD on clean paths outside the api's prefixes only (isConsolePath).
 * The page itself is asked for again on every load (no-cache: after an upgrade it names the new
 * build's assets), the hashed assets are kept for good, and a missing file is a 404, not the page:
 * a cached page's module script answered with HTML left the console blank after an upgrade.
 */
export function consoleRoutes(uiDir: string, apiPrefixes: ReadonlySet<string>): RequestHandler | null {
  const index = join(uiDir, 'index.html');
  if (!existsSync(index)) return null;
  // No directory redirects: /assets is not a second spelling of /assets/.
  const files = express.static(uiDir, {
    index: 'index.html',
    redirect: false,
    setHeaders: (res, path) => res.setHeader('Cache-Control', path.startsWith(join(uiDir, 'assets')) ? 'public, max-age=31536000, immutable' : 'no-cache'),
  });
  return (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !isConsolePath(req.url, apiPrefixes)) return next();
    files(req, res, (error?: unknown) => {
      if (error || !req.accepts('html') || req.path.startsWith(HASHED) || FILE_NAME.test(req.path)) return next(error);
      res.setHeader('Cache-Control', 'no-cache');
      res.sendFile(index);
    });
  };
}
