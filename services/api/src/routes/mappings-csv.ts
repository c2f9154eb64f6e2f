import type { Router } from 'express';
import { strictRouter } from '../http/router.js';
import type { ApiContext } from '../context.js';
import { requireHealthyProxy } from '../health-gate.js';
import { actorOf } from '../http/actor.js';
import { formatCsv } from '../logic/csv.js';
import { EXPORT_COLUMNS, planImport } from '../logic/mapping-import.js';
import { auditedMapping } from '../mapping-dto.js';
import { writeAudit } from '../repositories/audit.js';
import { insertMapping, listAllMappings, updateMapping } from '../repositories/mappings.js';
import { loadSettings } from '../repositories/settings.js';

export function mappingCsvRoutes(ctx: ApiContext): Router {
  const router = strictRouter();

  router.get('/api/v1/mappings/export', async (_req, res) => {
    const rows = await listAllMappings(ctx.db);
    const csv = formatCsv(EXPORT_COLUMNS, rows.map((m) => [m.clientIp, m.proxyName, m.listenPort, m.enabled, m.description, m.macAddress ?? '']));
    res.setHeader('Content-Disposition', 'attachment; filename="pgw-mappings.csv"');
    res.type('text/csv').send(csv);
  });

  router.post('/api/v1/mappings/import', async (req, res) => {
    const [settings, proxies, mappings] = await Promise.all([
      loadSettings(ctx.db),
      ctx.db.selectFrom('proxies').select(['id', 'name']).execute(),
      ctx.db.selectFrom('mappings').selectAll().execute(),
    ]);
    const plan = planImport(String(req.body ?? ''), { settings, proxies, mappings });
    // The gate: each proxy an enabled row would use must pass a probe, one probe per proxy.
    const gated = new Set(plan.filter((p) => p.enabled).map((p) => p.proxyId));
    for (const proxy of proxies.filter((p) => gated.has(p.id))) await requireHealthyProxy(ctx, proxy);
    const before = new Map(mappings.map((m) => [m.id, m]));
    const actor = actorOf(req);
    const counts = await ctx.db.transaction().execute(async (trx) => {
      let created = 0;
      let updated = 0;
      for (const { line: _line, existingId, ...fields } of plan) {
        if (existingId === null) {
          const row = await insertMapping(trx, fields);
          await writeAudit(trx, actor, { action: 'import', entityType: 'mapping', entityId: row.id, before: null, after: auditedMapping(row) });
          created++;
        } else {
          const row = await updateMapping(trx, existingId, fields);
          await writeAudit(trx, actor, { action: 'import', entityType: 'mapping', entityId: row.id, before: auditedMapping(before.get(existingId)!), after: auditedMapping(row) });
          updated++;
        }
      }
      return { created, updated };
    });
    if (plan.length) await ctx.notifier.publish({ type: 'mapping.changed', mappingId: null, action: 'imported' });
    res.json(counts);
  });

  return router;
}
