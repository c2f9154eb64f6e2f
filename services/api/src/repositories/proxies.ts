import type { ApiProxyRow, Db, ProxyCheckRow } from '@pgw/db';
import type { Proxy } from '../contract/types.js';
import { toProxyDto } from '../services/proxy-dto.js';
import type { ProxyFields, ProxyRepository } from '../services/ports.js';

export type { ProxyFields } from '../services/ports.js';

/** Every column pgw_api may select: all but password_enc (migration 0027). */
const API_COLUMNS = [
  'id', 'name', 'protocol', 'host', 'port', 'username', 'hasPassword', 'status', 'statusChangedAt', 'latencyMs', 'exitIp', 'lastError', 'lastCheckedAt',
  'consecutiveSuccesses', 'consecutiveFailures', 'handshakeMode', 'handshakeLearned', 'exitDiffers', 'udpSupport', 'udpCheckedAt', 'lastProbeStartedAt',
  'createdAt', 'updatedAt',
] as const satisfies readonly (keyof ApiProxyRow)[];

function withMappingCount(db: Db) {
  return db
    .selectFrom('proxies')
    .select(API_COLUMNS.map((column) => `proxies.${column}` as const))
    .select((eb) => eb.selectFrom('mappings').select((e) => e.fn.countAll<string>().as('n')).whereRef('mappings.proxyId', '=', 'proxies.id').as('mappingCount'));
}

export async function listProxies(db: Db, status?: ApiProxyRow['status']): Promise<Proxy[]> {
  let query = withMappingCount(db);
  if (status) query = query.where('status', '=', status);
  const rows = await query.orderBy('id').execute();
  return rows.map(({ mappingCount, ...row }) => toProxyDto(row, Number(mappingCount ?? 0)));
}

export async function getProxyDto(db: Db, id: number): Promise<Proxy | undefined> {
  const row = await withMappingCount(db).where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  const { mappingCount, ...rest } = row;
  return toProxyDto(rest, Number(mappingCount ?? 0));
}

export function findProxyRow(db: Db, id: number, lock = false): Promise<ApiProxyRow | undefined> {
  const query = db.selectFrom('proxies').select(API_COLUMNS).where('id', '=', id);
  return (lock ? query.forUpdate() : query).executeTakeFirst();
}

export function findProxyByName(db: Db, name: string): Promise<ApiProxyRow | undefined> {
  return db.selectFrom('proxies').select(API_COLUMNS).where('name', '=', name).executeTakeFirst();
}

export function insertProxy(db: Db, fields: ProxyFields): Promise<ApiProxyRow> {
  return db.insertInto('proxies').values(fields).returning(API_COLUMNS).executeTakeFirstOrThrow();
}

/**
 * A changed endpoint invalidates what the health service knew: Postgres sets it back to unknown
 * (fail closed) until it is probed again (migration 0004; pgw_api may not write the status columns),
 * and forgets the learned SOCKS5 handshake on an endpoint, credential or mode change (migration 0008).
 */
export function updateProxy(db: Db, id: number, fields: Partial<ProxyFields>): Promise<ApiProxyRow> {
  return db
    .updateTable('proxies')
    .set({ ...fields, updatedAt: new Date() })
    .where('id', '=', id)
    .returning(API_COLUMNS)
    .executeTakeFirstOrThrow();
}

export async function deleteProxy(db: Db, id: number): Promise<void> {
  await db.deleteFrom('proxies').where('id', '=', id).execute();
}

export async function listChecks(db: Db, proxyId: number, limit: number, before?: string): Promise<{ items: ProxyCheckRow[]; nextCursor: string | null }> {
  let query = db.selectFrom('proxyChecks').selectAll().where('proxyId', '=', proxyId);
  if (before) query = query.where('id', '<', before);
  const rows = await query.orderBy('id', 'desc').limit(limit + 1).execute();
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
}

/** The use cases' proxy repository on a connection or inside a transaction. */
export const proxyRepository = (db: Db): ProxyRepository => ({
  find: (id, options) => findProxyRow(db, id, options?.lock ?? false),
  findByName: (name) => findProxyByName(db, name),
  names: () => db.selectFrom('proxies').select(['id', 'name']).execute(),
  hosts: () => db.selectFrom('proxies').select(['id', 'name', 'host']).orderBy('id').execute(),
  insert: (fields) => insertProxy(db, fields),
  update: (id, fields) => updateProxy(db, id, fields),
  remove: (id) => deleteProxy(db, id),
});
