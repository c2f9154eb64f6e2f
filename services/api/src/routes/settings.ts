import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { actorOf } from '../http/actor.js';
import { strictRouter } from '../http/router.js';
import { settingsVersion } from '../logic/settings-version.js';
import { loadSettings } from '../repositories/settings.js';

export function settingsRoutes(ctx: ApiContext): Router {
  const router = strictRouter();

  router.get('/api/v1/settings', async (_req, res) => {
    const settings = await loadSettings(ctx.db);
    res.setHeader('ETag', settingsVersion(settings));
    res.json(settings);
  });

  router.put('/api/v1/settings', async (req, res) => {
    const stored = await ctx.services.settings.change(req.body, actorOf(req), req.get('if-match'));
    res.setHeader('ETag', settingsVersion(stored));
    res.json(stored);
  });

  return router;
}
