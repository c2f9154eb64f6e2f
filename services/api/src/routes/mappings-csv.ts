import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { actorOf } from '../http/actor.js';
import { strictRouter } from '../http/router.js';

export function mappingCsvRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  const { mappingCsv } = ctx.services;

  router.get('/api/v1/mappings/export', async (_req, res) => {
    const csv = await mappingCsv.exportCsv();
    res.setHeader('Content-Disposition', 'attachment; filename="pgw-mappings.csv"');
    res.type('text/csv').send(csv);
  });

  router.post('/api/v1/mappings/import/preview', async (req, res) => {
    res.json(await ctx.services.importPreview.preview(String(req.body ?? '')));
  });

  router.post('/api/v1/mappings/import', async (req, res) => {
    res.json(await mappingCsv.importCsv(String(req.body ?? ''), actorOf(req), req.get('if-match')));
  });

  return router;
}
