import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { strictRouter } from '../http/router.js';

export function statusRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  router.get('/api/v1/status', async (_req, res) => {
    res.json(await ctx.services.status.dashboard());
  });
  return router;
}
