import type { Router } from 'express';
import type { BulkMappingRequest } from '../contract/types.js';
import type { ApiContext } from '../context.js';
import { actorOf } from '../http/actor.js';
import { strictRouter } from '../http/router.js';

export function mappingBulkRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  router.post('/api/v1/mappings/bulk', async (req, res) => {
    res.json(await ctx.services.mappingBulk.run(req.body as BulkMappingRequest, actorOf(req)));
  });
  return router;
}
