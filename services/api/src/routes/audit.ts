import type { Router } from 'express';
import { strictRouter } from '../http/router.js';
import type { ApiContext } from '../context.js';
import { listAudit } from '../repositories/audit.js';

export function auditRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  router.get('/api/v1/audit', async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    const page = await listAudit(ctx.db, {
      limit: Number(q.limit ?? 100),
      before: q.before,
      actor: q.actor,
      entityType: q.entityType,
      entityId: q.entityId,
      action: q.action,
      from: q.from ? new Date(q.from) : undefined,
      to: q.to ? new Date(q.to) : undefined,
    });
    res.json(page);
  });
  return router;
}
