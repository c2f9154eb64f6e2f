import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { strictRouter } from '../http/router.js';
import { sendJson } from '../http/send-json.js';

export function statusRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  router.get('/api/v1/status', async (req, res) => {
    sendJson(req, res, await ctx.services.status.dashboard());
  });
  return router;
}
