import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { idParam } from '../http/actor.js';
import { strictRouter } from '../http/router.js';

const text = (value: unknown) => (typeof value === 'string' ? value : undefined);

/** The accounting history: one client's usage over a range, and the top talkers. */
export function usageRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  const { usage } = ctx.services;

  router.get('/api/v1/mappings/:id/usage', async (req, res) => {
    res.json(await usage.client(idParam(req), text(req.query.from), text(req.query.to)));
  });

  router.get('/api/v1/usage/top', async (req, res) => {
    res.json(await usage.top(text(req.query.from), text(req.query.to), Number(req.query.limit ?? 10)));
  });

  return router;
}
