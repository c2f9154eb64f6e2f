import type { Router } from 'express';
import { strictRouter } from '../http/router.js';
import { readComponentStatus } from '../component-status-reader.js';
import type { ApiContext } from '../context.js';
import { dashboardCounts } from '../repositories/status.js';

export function statusRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  router.get('/api/v1/status', async (_req, res) => {
    const [{ proxies, mappings }, { agent, forwarder }] = await Promise.all([dashboardCounts(ctx.db), readComponentStatus(ctx.redis)]);
    res.json({
      proxies: { total: proxies.up + proxies.down + proxies.unknown, ...proxies },
      mappings,
      clientsBlocked: agent ? Object.keys(agent.blocked).length : null,
      activeConnections: forwarder ? forwarder.activeConnections : null,
      agent: agent && { ok: agent.ok, lastReconcileAt: agent.at, durationMs: agent.durationMs, appliedMappings: agent.appliedMappings, error: agent.error, refusals: agent.refusals },
      forwarder: forwarder && { at: forwarder.at, activeConnections: forwarder.activeConnections, listeners: forwarder.listeners, refused: forwarder.refused },
    });
  });
  return router;
}
