import { encryptSecret } from '@pgw/crypto';
import type { ProxyRow } from '@pgw/db';
import { ProxyHostPolicy } from '@pgw/domain';
import type { Router } from 'express';
import { strictRouter } from '../http/router.js';
import type { ApiContext } from '../context.js';
import { actorOf, idParam } from '../http/actor.js';
import { conflict, notFound } from '../http/api-error.js';
import { type EndpointChange, endpointFromInput, type ProxyInput } from '../logic/proxy-input.js';
import { writeAudit } from '../repositories/audit.js';
import { loadSettings } from '../repositories/settings.js';
import {
  deleteProxy, findProxyByName, findProxyRow, getProxyDto, insertProxy, listChecks, listProxies, mappingCountOf, type ProxyFields, toProxyDto, updateProxy,
} from '../repositories/proxies.js';

/** Endpoint input -> stored columns; the password is sealed here and never kept in plaintext. */
function storedFields(change: EndpointChange, key: Buffer): Partial<ProxyFields> {
  const { password, ...rest } = change;
  return { ...rest, ...(password === undefined ? {} : { passwordEnc: password === null ? null : encryptSecret(password, key) }) };
}

const audited = (row: ProxyRow) => toProxyDto(row, 0);

/** Where proxies may be, as of the settings now (the LAN prefix) and the operator's allowed networks. */
async function proxyHosts(ctx: ApiContext): Promise<ProxyHostPolicy> {
  return new ProxyHostPolicy({ lanCidr: (await loadSettings(ctx.db)).lanCidr, allowedNetworks: ctx.proxyAllowNetworks });
}

export function proxyRoutes(ctx: ApiContext): Router {
  const router = strictRouter();

  router.get('/api/v1/proxies', async (req, res) => {
    res.json({ items: await listProxies(ctx.db, req.query.status as ProxyRow['status'] | undefined) });
  });

  router.post('/api/v1/proxies', async (req, res) => {
    const body = req.body as ProxyInput & { name: string; handshakeMode?: ProxyFields['handshakeMode'] };
    const endpoint = endpointFromInput(body, 'create', await proxyHosts(ctx));
    if (await findProxyByName(ctx.db, body.name)) throw conflict('name', `a proxy named "${body.name}" already exists`);
    const row = await ctx.db.transaction().execute(async (trx) => {
      const fields = storedFields(endpoint, ctx.secretKey);
      const inserted = await insertProxy(trx, {
        name: body.name,
        protocol: fields.protocol!,
        host: fields.host!,
        port: fields.port!,
        username: fields.username ?? null,
        passwordEnc: fields.passwordEnc ?? null,
        ...(body.handshakeMode !== undefined ? { handshakeMode: body.handshakeMode } : {}),
      });
      await writeAudit(trx, actorOf(req), { action: 'create', entityType: 'proxy', entityId: inserted.id, before: null, after: audited(inserted) });
      return inserted;
    });
    await ctx.notifier.publish({ type: 'proxy.changed', proxyId: row.id, action: 'created' });
    res.status(201).json(toProxyDto(row, 0));
  });

  router.get('/api/v1/proxies/:id', async (req, res) => {
    const proxy = await getProxyDto(ctx.db, idParam(req));
    if (!proxy) throw notFound(`proxy ${idParam(req)}`);
    res.json(proxy);
  });

  router.patch('/api/v1/proxies/:id', async (req, res) => {
    const id = idParam(req);
    const body = req.body as ProxyInput & { name?: string; handshakeMode?: ProxyFields['handshakeMode'] };
    const endpoint = endpointFromInput(body, 'update', await proxyHosts(ctx));
    if (body.name !== undefined) {
      const other = await findProxyByName(ctx.db, body.name);
      if (other && other.id !== id) throw conflict('name', `a proxy named "${body.name}" already exists`);
    }
    const row = await ctx.db.transaction().execute(async (trx) => {
      const before = await findProxyRow(trx, id, true);
      if (!before) throw notFound(`proxy ${id}`);
      const fields = {
        ...storedFields(endpoint, ctx.secretKey),
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.handshakeMode !== undefined ? { handshakeMode: body.handshakeMode } : {}),
      };
      const username = 'username' in fields ? fields.username : before.username;
      const hasPassword = 'passwordEnc' in fields ? fields.passwordEnc !== null : before.passwordEnc !== null;
      if (hasPassword && !username) throw conflict('password', 'a password needs a username');
      const updated = await updateProxy(trx, id, fields);
      await writeAudit(trx, actorOf(req), { action: 'update', entityType: 'proxy', entityId: id, before: audited(before), after: audited(updated) });
      return updated;
    });
    await ctx.notifier.publish({ type: 'proxy.changed', proxyId: id, action: 'updated' });
    res.json(toProxyDto(row, await mappingCountOf(ctx.db, id)));
  });

  router.delete('/api/v1/proxies/:id', async (req, res) => {
    const id = idParam(req);
    await ctx.db.transaction().execute(async (trx) => {
      const before = await findProxyRow(trx, id, true);
      if (!before) throw notFound(`proxy ${id}`);
      const used = await mappingCountOf(trx, id);
      if (used > 0) throw conflict(undefined, `proxy "${before.name}" is used by ${used === 1 ? '1 mapping' : `${used} mappings`}; move or delete ${used === 1 ? 'it' : 'them'} first`, { mappingCount: used });
      await deleteProxy(trx, id);
      await writeAudit(trx, actorOf(req), { action: 'delete', entityType: 'proxy', entityId: id, before: audited(before), after: null });
    });
    await ctx.notifier.publish({ type: 'proxy.changed', proxyId: id, action: 'deleted' });
    res.status(204).end();
  });

  router.post('/api/v1/proxies/:id/check', async (req, res) => {
    const id = idParam(req);
    if (!(await findProxyRow(ctx.db, id))) throw notFound(`proxy ${id}`);
    const settings = await loadSettings(ctx.db);
    res.json(await ctx.probes.probe(id, settings.probeTimeoutMs + ctx.probeWaitMarginMs));
  });

  router.get('/api/v1/proxies/:id/checks', async (req, res) => {
    const id = idParam(req);
    if (!(await findProxyRow(ctx.db, id))) throw notFound(`proxy ${id}`);
    const page = await listChecks(ctx.db, id, Number(req.query.limit ?? 100), req.query.before as string | undefined);
    res.json({ items: page.items.map(({ proxyId: _p, ...check }) => check), nextCursor: page.nextCursor });
  });

  return router;
}
