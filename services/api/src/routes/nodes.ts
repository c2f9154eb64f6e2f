import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { strictRouter } from '../http/router.js';
import { sendJson } from '../http/send-json.js';

/** The gateway nodes and their HA state (issue 18). */
export function nodeRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  router.get('/api/v1/nodes', async (req, res) => {
    sendJson(req, res, await ctx.services.nodes.list());
  });
  return router;
}
