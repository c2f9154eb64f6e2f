import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { actorOf, idParam } from '../http/actor.js';
import { strictRouter } from '../http/router.js';
import { sendJson } from '../http/send-json.js';
import type { MappingStateKind } from '../logic/mapping-state.js';
import type { MappingCreate, MappingUpdate } from '../contract/types.js';

export function mappingRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  const { mappings, mappingQueries } = ctx.services;

  router.get('/api/v1/mappings', async (req, res) => {
    const filter = { proxyId: req.query.proxyId ? Number(req.query.proxyId) : undefined, q: (req.query.q as string | undefined) || undefined };
    sendJson(req, res, await mappingQueries.page(filter, Number(req.query.limit ?? 100), Number(req.query.offset ?? 0), req.query.state as MappingStateKind | undefined));
  });

  router.post('/api/v1/mappings', async (req, res) => {
    const id = await mappings.create(req.body as MappingCreate, actorOf(req));
    res.status(201).json(await mappingQueries.one(id));
  });

  router.get('/api/v1/mappings/:id', async (req, res) => {
    res.json(await mappingQueries.one(idParam(req)));
  });

  router.patch('/api/v1/mappings/:id', async (req, res) => {
    await mappings.edit(idParam(req), req.body as MappingUpdate, 'update', actorOf(req));
    res.json(await mappingQueries.one(idParam(req)));
  });
  router.post('/api/v1/mappings/:id/enable', async (req, res) => {
    await mappings.edit(idParam(req), { enabled: true }, 'enable', actorOf(req));
    res.json(await mappingQueries.one(idParam(req)));
  });
  router.post('/api/v1/mappings/:id/disable', async (req, res) => {
    await mappings.edit(idParam(req), { enabled: false }, 'disable', actorOf(req));
    res.json(await mappingQueries.one(idParam(req)));
  });

  router.post('/api/v1/mappings/:id/quota-reset', async (req, res) => {
    await mappings.resetQuota(idParam(req), actorOf(req));
    res.json(await mappingQueries.one(idParam(req)));
  });

  router.delete('/api/v1/mappings/:id', async (req, res) => {
    await mappings.remove(idParam(req), actorOf(req));
    res.status(204).end();
  });

  return router;
}
