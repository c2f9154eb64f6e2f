import type { Response, Router } from 'express';
import { strictRouter } from '../http/router.js';
import type { ApiContext } from '../context.js';
import { tooMany } from '../http/api-error.js';
import { GateFull } from '../logic/work-gate.js';

/** The audit reads' gate was full: nothing was read. */
async function unlessBusy<T>(res: Response, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw error instanceof GateFull ? tooMany(res, 1, 'too many audit searches are running; try again in 1 s') : error;
  }
}

export function auditRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  const { audit } = ctx.services;

  router.get('/api/v1/audit', async (req, res) => {
    res.json(await unlessBusy(res, () => audit.search(req.query, req.auth!.role)));
  });

  router.get('/api/v1/audit/export', async (req, res) => {
    const { csv, nextCursor } = await unlessBusy(res, () => audit.exportCsv(req.query, req.auth!.role));
    res.setHeader('Content-Disposition', 'attachment; filename="pgw-audit.csv"');
    res.setHeader('X-Pgw-Truncated', nextCursor === null ? 'false' : 'true');
    if (nextCursor !== null) res.setHeader('X-Pgw-Next-Cursor', nextCursor);
    res.type('text/csv').send(csv);
  });

  return router;
}
