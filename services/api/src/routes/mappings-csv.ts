import type { Db } from '@pgw/db';
import type { Router } from 'express';
import { strictRouter } from '../http/router.js';
import type { ApiContext } from '../context.js';
import { requireHealthyProxy } from '../health-gate.js';
import { actorOf } from '../http/actor.js';
import { formatCsv } from '../logic/csv.js';
import { EXPORT_COLUMNS, planImport } from '../logic/mapping-import.js';
import { auditedMapping } from '../mapping-dto.js';
import { writeAudit } from '../repositories/audit.js';
import { insertMapping, listAllMappings, lockListenPorts, updateMapping } from '../repositories/mappings.js';
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
    const text = String(req.body ?? '');
    const snapshot = async (db: Db) => {
      const [settings, proxies, mappings] = await Promise.all([
        loadSettings(db),
        db.selectFrom('proxies').select(['id', 'name']).execute(),
        db.selectFrom('mappings').selectAll().execute(),
      ]);
      return { settings, proxies, mappings };
    };
    const first = await snapshot(ctx.db);
    const draft = planImport(text, first);
    // The gate: each proxy an enabled row would newly use or re-enable must pass a probe, one probe per proxy.
    const gated = new Set(draft.filter((p) => p.enabled && p.change !== 'unchanged').map((p) => p.proxyId));
    for (const proxy of first.proxies.filter((p) => gated.has(p.id))) await requireHealthyProxy(ctx, proxy);
    const actor = actorOf(req);
    const counts = await ctx.db.transaction().execute(async (trx) => {
      // Planned again under the listen-port lock: another admin may have saved during the probes.
      await lockListenPorts(trx);
      const current = await snapshot(trx);
      const before = new Map(current.mappings.map((m) => [m.id, m]));
      const counts = { created: 0, updated: 0, unchanged: 0 };
      for (const { line: _line, existingId, change, ...fields } of planImport(text, current)) {
        if (change === 'unchanged') {
          counts.unchanged++;
        } else if (existingId === null) {
          const row = await insertMapping(trx, fields);
          await writeAudit(trx, actor, { action: 'import', entityType: 'mapping', entityId: row.id, before: null, after: auditedMapping(row) });
          counts.created++;
        } else {
          const row = await updateMapping(trx, existingId, fields);
          await writeAudit(trx, actor, { action: 'import', entityType: 'mapping', entityId: row.id, before: auditedMapping(before.get(existingId)!), after: auditedMapping(row) });
          counts.updated++;
        }
      }
      return counts;
    });
    if (counts.created + counts.updated > 0) await ctx.notifier.publish({ type: 'mapping.changed', mappingId: null, action: 'imported' });
    res.json(counts);
  });

  return router;
}
