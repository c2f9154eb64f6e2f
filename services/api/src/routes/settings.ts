import { settingsSchema } from '@pgw/domain';
import type { Router } from 'express';
import { strictRouter } from '../http/router.js';
import type { ApiContext } from '../context.js';
import { actorOf } from '../http/actor.js';
import { badRequest, conflict } from '../http/api-error.js';
import { writeAudit } from '../repositories/audit.js';
import { mappingsOutside } from '../repositories/mappings.js';
import { loadSettings, saveSettings } from '../repositories/settings.js';

export function settingsRoutes(ctx: ApiContext): Router {
  const router = strictRouter();

  router.get('/api/v1/settings', async (_req, res) => {
    res.json(await loadSettings(ctx.db));
  });

  router.put('/api/v1/settings', async (req, res) => {
    const parsed = settingsSchema.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.');
      throw badRequest(field, `${field}: ${issue.message}`);
    }
    const next = parsed.data;
    await ctx.db.transaction().execute(async (trx) => {
      const before = await loadSettings(trx);
      const outside = await mappingsOutside(trx, next.lanCidr, next.forwarderPortMin, next.forwarderPortMax);
      if (outside.outsideCidr > 0) throw conflict('lanCidr', `${outside.outsideCidr} mapping(s) have a client outside ${next.lanCidr}; change or delete them first`);
      if (outside.outsideRange > 0) {
        throw conflict('forwarderPortMin', `${outside.outsideRange} mapping(s) listen outside ${next.forwarderPortMin}-${next.forwarderPortMax}; change or delete them first`);
      }
      await saveSettings(trx, next);
      await writeAudit(trx, actorOf(req), { action: 'update', entityType: 'settings', entityId: null, before, after: next });
    });
    await ctx.notifier.publish({ type: 'config.changed' });
    res.json(await loadSettings(ctx.db));
  });

  return router;
}
