import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { strictRouter } from '../http/router.js';

export function deviceRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  router.get('/api/v1/devices', async (req, res) => {
    // The validator has checked the boolean; query values arrive as text.
    res.json(await ctx.services.devices.list({ unmapped: String(req.query.unmapped) === 'true' }));
  });
  return router;
}
