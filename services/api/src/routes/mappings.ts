import type { Settings } from '@pgw/domain';
import type { Db, MappingRow } from '@pgw/db';
import type { Router } from 'express';
import { strictRouter } from '../http/router.js';
import { readComponentStatus } from '../component-status-reader.js';
import type { ApiContext } from '../context.js';
import { requireHealthyProxy } from '../health-gate.js';
import { actorOf, idParam } from '../http/actor.js';
import { conflict, notFound } from '../http/api-error.js';
import { validClientIp, validListenPort, validMacAddress } from '../logic/mapping-rules.js';
import type { MappingStateKind } from '../logic/mapping-state.js';
import { lowestFreePort } from '../logic/port-allocation.js';
import { auditedMapping, toMappingDto } from '../mapping-dto.js';
import { writeAudit } from '../repositories/audit.js';
import {
  deleteMapping, findMapping, findMappingByClientIp, findMappingByPort, findMappingRow, insertMapping, listAllMappings, listMappingsPage, lockListenPorts,
  type MappingFields, updateMapping, usedPorts,
} from '../repositories/mappings.js';
import { findProxyRow } from '../repositories/proxies.js';
import { loadSettings } from '../repositories/settings.js';

interface MappingInput {
  clientIp?: string;
  proxyId?: number;
  listenPort?: number;
  enabled?: boolean;
  description?: string;
  macAddress?: string | null;
  /** Validated by the spec's enum. */
  privateDestinations?: 'deny' | 'allow' | null;
}

/** The fields to store; a listen port of null is allocated inside the write transaction (placePort). */
type ResolvedFields = Omit<MappingFields, 'listenPort'> & { listenPort: number | null };

/** A port held by another mapping, named by what the console shows (its client), never by an internal id. */
async function checkPortFree(db: Db, listenPort: number, selfId: number | undefined): Promise<void> {
  const other = await findMappingByPort(db, listenPort);
  if (other && other.id !== selfId) throw conflict('listenPort', `port ${listenPort} is already used by the mapping of ${other.clientIp}`);
}

/** Validates input against the settings and the other mappings: 400 / 404 / 409 naming the field. */
async function resolveFields(db: Db, settings: Settings, input: MappingInput, existing: MappingRow | null): Promise<ResolvedFields> {
  const clientIp = input.clientIp === undefined ? existing!.clientIp : validClientIp(input.clientIp, settings);
  if (input.clientIp !== undefined) {
    const other = await findMappingByClientIp(db, clientIp);
    if (other && other.id !== existing?.id) throw conflict('clientIp', `client ${clientIp} already has a mapping; edit that one instead`);
  }
  const proxyId = input.proxyId ?? existing!.proxyId;
  if (!(await findProxyRow(db, proxyId))) throw notFound(`proxy ${proxyId}`, 'proxyId');
  let listenPort: number | null = null;
  if (input.listenPort !== undefined) {
    listenPort = validListenPort(input.listenPort, settings);
    await checkPortFree(db, listenPort, existing?.id);
  } else if (existing) {
    listenPort = existing.listenPort;
  }
  return {
    clientIp,
    proxyId,
    listenPort,
    enabled: input.enabled ?? existing?.enabled ?? true,
    description: input.description ?? existing?.description ?? '',
    macAddress: input.macAddress === undefined ? (existing?.macAddress ?? null) : input.macAddress === null ? null : validMacAddress(input.macAddress),
    privateDestinations: input.privateDestinations === undefined ? (existing?.privateDestinations ?? null) : input.privateDestinations,
  };
}

/**
 * Inside the write transaction, under the listen-port lock: re-checks a port the user chose (another
 * admin may have taken it during the health probe) or allocates the lowest free one. A full range is
 * not the fault of a field the user left empty, so that error names no field.
 */
async function placePort(trx: Db, settings: Settings, fields: ResolvedFields, selfId: number | undefined): Promise<MappingFields> {
  await lockListenPorts(trx);
  if (fields.listenPort !== null) {
    await checkPortFree(trx, fields.listenPort, selfId);
    return { ...fields, listenPort: fields.listenPort };
  }
  const free = lowestFreePort(settings.forwarderPortMin, settings.forwarderPortMax, await usedPorts(trx));
  if (free === null) throw conflict(undefined, `no free forwarder port left in ${settings.forwarderPortMin}-${settings.forwarderPortMax}; widen the range in Configuration`);
  return { ...fields, listenPort: free };
}

/** Edits that change where or whether traffic flows need a healthy proxy; a description or a disable does not. */
function needsProbe(before: MappingRow, after: ResolvedFields): boolean {
  if (!after.enabled) return false;
  return !before.enabled || before.clientIp !== after.clientIp || before.proxyId !== after.proxyId || before.listenPort !== after.listenPort;
}

export function mappingRoutes(ctx: ApiContext): Router {
  const router = strictRouter();

  const respond = async (id: number) => {
    const [row, status] = await Promise.all([findMapping(ctx.db, id), readComponentStatus(ctx.redis)]);
    return toMappingDto(row!, status.agent);
  };

  router.get('/api/v1/mappings', async (req, res) => {
    const limit = Number(req.query.limit ?? 100);
    const offset = Number(req.query.offset ?? 0);
    const filter = { proxyId: req.query.proxyId ? Number(req.query.proxyId) : undefined, q: (req.query.q as string | undefined) || undefined };
    const state = req.query.state as MappingStateKind | undefined;
    const { agent } = await readComponentStatus(ctx.redis);
    if (!state) {
      const page = await listMappingsPage(ctx.db, filter, limit, offset);
      return void res.json({ items: page.items.map((row) => toMappingDto(row, agent)), total: page.total, limit, offset });
    }
    // The effective state is not in Postgres: filter after computing it.
    const matching = (await listAllMappings(ctx.db, filter)).map((row) => toMappingDto(row, agent)).filter((m) => m.effective.state === state);
    res.json({ items: matching.slice(offset, offset + limit), total: matching.length, limit, offset });
  });

  router.post('/api/v1/mappings', async (req, res) => {
    const input = req.body as MappingInput;
    const settings = await loadSettings(ctx.db);
    const fields = await resolveFields(ctx.db, settings, input, null);
    const proxy = (await findProxyRow(ctx.db, fields.proxyId))!;
    await requireHealthyProxy(ctx, proxy);
    const row = await ctx.db.transaction().execute(async (trx) => {
      const inserted = await insertMapping(trx, await placePort(trx, settings, fields, undefined));
      await writeAudit(trx, actorOf(req), { action: 'create', entityType: 'mapping', entityId: inserted.id, before: null, after: auditedMapping(inserted) });
      return inserted;
    });
    await ctx.notifier.publish({ type: 'mapping.changed', mappingId: row.id, action: 'created' });
    res.status(201).json(await respond(row.id));
  });

  router.get('/api/v1/mappings/:id', async (req, res) => {
    const row = await findMapping(ctx.db, idParam(req));
    if (!row) throw notFound(`mapping ${idParam(req)}`);
    res.json(toMappingDto(row, (await readComponentStatus(ctx.redis)).agent));
  });

  const edit = async (id: number, input: MappingInput, action: string, actor: ReturnType<typeof actorOf>) => {
    const existing = await ctx.db.selectFrom('mappings').selectAll().where('id', '=', id).executeTakeFirst();
    if (!existing) throw notFound(`mapping ${id}`);
    const settings = await loadSettings(ctx.db);
    const fields = await resolveFields(ctx.db, settings, input, existing);
    if (needsProbe(existing, fields)) await requireHealthyProxy(ctx, (await findProxyRow(ctx.db, fields.proxyId))!);
    await ctx.db.transaction().execute(async (trx) => {
      const before = await findMappingRow(trx, id);
      if (!before) throw notFound(`mapping ${id}`);
      const updated = await updateMapping(trx, id, await placePort(trx, settings, fields, id));
      await writeAudit(trx, actor, { action, entityType: 'mapping', entityId: id, before: auditedMapping(before), after: auditedMapping(updated) });
    });
    await ctx.notifier.publish({ type: 'mapping.changed', mappingId: id, action: 'updated' });
    return respond(id);
  };

  router.patch('/api/v1/mappings/:id', async (req, res) => {
    res.json(await edit(idParam(req), req.body as MappingInput, 'update', actorOf(req)));
  });
  router.post('/api/v1/mappings/:id/enable', async (req, res) => {
    res.json(await edit(idParam(req), { enabled: true }, 'enable', actorOf(req)));
  });
  router.post('/api/v1/mappings/:id/disable', async (req, res) => {
    res.json(await edit(idParam(req), { enabled: false }, 'disable', actorOf(req)));
  });

  router.delete('/api/v1/mappings/:id', async (req, res) => {
    const id = idParam(req);
    await ctx.db.transaction().execute(async (trx) => {
      const before = await findMappingRow(trx, id);
      if (!before) throw notFound(`mapping ${id}`);
      await deleteMapping(trx, id);
      await writeAudit(trx, actorOf(req), { action: 'delete', entityType: 'mapping', entityId: id, before: auditedMapping(before), after: null });
    });
    await ctx.notifier.publish({ type: 'mapping.changed', mappingId: id, action: 'deleted' });
    res.status(204).end();
  });

  return router;
}
