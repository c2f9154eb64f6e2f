import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { actorOf } from '../http/actor.js';
import { strictRouter } from '../http/router.js';
import { loadSettings } from '../repositories/settings.js';

export function settingsRoutes(ctx: ApiContext): Router {
  const router = strictRouter();

  router.get('/api/v1/settings', async (_req, res) => {
    res.json(await loadSettings(ctx.db));
  });

  router.put('/api/v1/settings', async (req, res) => {
    res.json(await ctx.services.settings.change(req.body, actorOf(req)));
  });

  return router;
}
