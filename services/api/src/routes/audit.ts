import type { Router } from 'express';
import { strictRouter } from '../http/router.js';
import type { ApiContext } from '../context.js';

export function auditRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  const { audit } = ctx.services;

  router.get('/api/v1/audit', async (req, res) => {
    res.json(await audit.search(req.query, req.auth!.role));
  });

  router.get('/api/v1/audit/export', async (req, res) => {
    const { csv, nextCursor } = await audit.exportCsv(req.query, req.auth!.role);
    res.setHeader('Content-Disposition', 'attachment; filename="pgw-audit.csv"');
    res.setHeader('X-Pgw-Truncated', nextCursor === null ? 'false' : 'true');
    if (nextCursor !== null) res.setHeader('X-Pgw-Next-Cursor', nextCursor);
    res.type('text/csv').send(csv);
  });

  return router;
}
