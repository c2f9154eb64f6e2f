import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import type { ProxyCreate, ProxyStatus, ProxyUpdate } from '../contract/types.js';
import { notFound } from '../logic/domain-errors.js';
import { actorOf, idParam } from '../http/actor.js';
import { strictRouter } from '../http/router.js';
import { listExitIps } from '../repositories/exit-ips.js';
import { findProxyRow, getProxyDto, listChecks, listProxies } from '../repositories/proxies.js';

export function proxyRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  const { proxies } = ctx.services;

  router.get('/api/v1/proxies', async (req, res) => {
    res.json({ items: await listProxies(ctx.db, req.query.status as ProxyStatus | undefined) });
  });

  router.post('/api/v1/proxies', async (req, res) => {
    res.status(201).json(await proxies.create(req.body as ProxyCreate, actorOf(req)));
  });

  router.get('/api/v1/proxies/:id', async (req, res) => {
    const proxy = await getProxyDto(ctx.db, idParam(req));
    if (!proxy) throw notFound(`proxy ${idParam(req)}`);
    res.json(proxy);
  });

  router.patch('/api/v1/proxies/:id', async (req, res) => {
    res.json(await proxies.update(idParam(req), req.body as ProxyUpdate, actorOf(req)));
  });

  router.delete('/api/v1/proxies/:id', async (req, res) => {
    await proxies.remove(idParam(req), actorOf(req));
    res.status(204).end();
  });

  router.post('/api/v1/proxies/:id/check', async (req, res) => {
    res.json(await proxies.check(idParam(req), actorOf(req)));
  });

  router.get('/api/v1/proxies/:id/checks', async (req, res) => {
    const id = idParam(req);
    if (!(await findProxyRow(ctx.db, id))) throw notFound(`proxy ${id}`);
    const page = await listChecks(ctx.db, id, Number(req.query.limit ?? 100), req.query.before as string | undefined);
    res.json({ items: page.items.map(({ proxyId: _p, ...check }) => check), nextCursor: page.nextCursor });
  });

  router.get('/api/v1/proxies/:id/exit-ips', async (req, res) => {
    const id = idParam(req);
    if (!(await findProxyRow(ctx.db, id))) throw notFound(`proxy ${id}`);
    res.json({ items: await listExitIps(ctx.db, id) });
  });

  return router;
}
