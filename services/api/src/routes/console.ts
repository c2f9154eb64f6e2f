import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { Router } from 'express';

/** Serves the built console with an SPA fallback: unknown non-API GETs get index.html (vue-router's history mode). */
export function consoleRoutes(uiDir: string): Router | null {
  if (!existsSync(join(uiDir, 'index.html'))) return null;
  const router = Router();
  router.use(express.static(uiDir, { index: 'index.html', maxAge: '1h' }));
  router.get(/^\/(?!api\/|healthz$|readyz$|metrics$).*/, (req, res, next) => {
    if (!req.accepts('html')) return next();
    res.sendFile(join(uiDir, 'index.html'));
  });
  return router;
}
