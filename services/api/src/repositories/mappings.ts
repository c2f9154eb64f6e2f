import type { Db, MappingRow } from '@pgw/db';
import { sql } from 'kysely';
import type { MappingFields, MappingFilter, MappingRepository, MappingsOutside, MappingWithProxy } from '../services/ports.js';

/** to_char truncates to milliseconds as pg's Date parsing did, so the strings equal the old Date#toJSON output. */
const isoUtc = (column: 'mappings.createdAt' | 'mappings.updatedAt') => sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

function filtered(db: Db, filter: MappingFilter) {
  let query = db.selectFrom('mappings');
  if (filter.proxyId) query = query.where('mappings.proxyId', '=', filter.proxyId);
  if (filter.q) {
    const pattern = `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) => eb.or([eb(sql`host(mappings.client_ip)`, 'like', pattern), eb('mappings.description', 'ilike', pattern)]));
  }
  return query;
}

function joined(db: Db, filter: MappingFilter) {
  return filtered(db, filter)
    .innerJoin('proxies', 'proxies.id', 'mappings.proxyId')
    .select(['mappings.id', 'mappings.clientIp', 'mappings.proxyId', 'mappings.listenPort', 'mappings.enabled', 'mappings.description', 'mappings.macAddress', 'mappings.privateDestinations'])
    .select(['mappings.failPolicy', 'mappings.backupProxyIds'])
    .select('mappings.tags')
    .select(['mappings.rateDownKbit', 'mappings.rateUpKbit', 'mappings.quotaBytes', 'mappings.quotaEpoch'])
    .select([isoUtc('mappings.createdAt').as('createdAt'), isoUtc('mappings.updatedAt').as('updatedAt'), 'proxies.name as proxyName', 'proxies.status as proxyStatus']);
}

/**
 * One page and the total that matches the filter, in one round trip: the count is an uncorrelated
 * subquery, evaluated once. A page past the end has no row to carry it, so only then count apart.
 */
export async function listMappingsPage(db: Db, filter: MappingFilter, limit: number, offset: number): Promise<{ items: MappingWithProxy[]; total: number }> {
  const rows = await joined(db, filter)
    .select(filtered(db, filter).select((eb) => eb.fn.countAll<string>().as('n')).as('total'))
    .orderBy('mappings.id')
    .limit(limit)
    .offset(offset)
    .execute();
  if (rows.length === 0) {
    const total = offset === 0 ? 0 : Number((await filtered(db, filter).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
    return { items: [], total };
  }
  return { items: rows.map(({ total: _total, ...row }) => row), total: Number(rows[0]!.total) };
}

export function listAllMappings(db: Db, filter: MappingFilter = {}): Promise<MappingWithProxy[]> {
  return joined(db, filter).orderBy('mappings.id').execute();
}

export function findMapping(db: Db, id: number): Promise<MappingWithProxy | undefined> {
  return joined(db, {}).where('mappings.id', '=', id).executeTakeFirst();
}

export function findMappingRow(db: Db, id: number): Promise<MappingRow | undefined> {
  return db.selectFrom('mappings').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** In id order, so two transactions locking overlapping sets take the locks in one order (no deadlock). */
export function findMappingRows(db: Db, ids: readonly number[]): Promise<MappingRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  // One array parameter, however many ids (the bulk request allows 10 000).
  return db.selectFrom('mappings').selectAll().where(sql<boolean>`id = ANY (${[...ids]}::int[])`).orderBy('id').forUpdate().execute();
}

export function findMappingByClientIp(db: Db, clientIp: string): Promise<MappingRow | undefined> {
  return db.selectFrom('mappings').selectAll().where('clientIp', '=', clientIp).executeTakeFirst();
}

export function findMappingByPort(db: Db, port: number): Promise<MappingRow | undefined> {
  return db.selectFrom('mappings').selectAll().where('listenPort', '=', port).executeTakeFirst();
}

export async function usedPorts(db: Db): Promise<number[]> {
  return (await db.selectFrom('mappings').select('listenPort').execute()).map((r) => r.listenPort);
}

/** The unique index would refuse the second of two concurrent allocations with an error under a field it left empty. */
export async function lockListenPorts(trx: Db): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext('pgw-mapping-listen-ports'))`.execute(trx);
}

export function insertMapping(db: Db, fields: MappingFields): Promise<MappingRow> {
  return db.insertInto('mappings').values(fields).returningAll().executeTakeFirstOrThrow();
}

export function updateMapping(db: Db, id: number, fields: Partial<MappingFields>): Promise<MappingRow> {
  return db.updateTable('mappings').set({ ...fields, updatedAt: new Date() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function deleteMapping(db: Db, id: number): Promise<void> {
  await db.deleteFrom('mappings').where('id', '=', id).execute();
}

export async function mappingsOutside(db: Db, lanCidr: string, portMin: number, portMax: number): Promise<MappingsOutside> {
  const row = await db
    .selectFrom('mappings')
    .select([
      sql<string>`count(*) filter (where not (client_ip <<= ${lanCidr}::cidr))`.as('outsideCidr'),
      // A LAN is /8 to /30 (lanNetworkProblem): both ends are no host's (networkEndOf).
      sql<string>`count(*) filter (where host(client_ip) in (host(network(${lanCidr}::cidr)), host(broadcast(${lanCidr}::cidr))))`.as('atNetworkEnds'),
      sql<string>`count(*) filter (where listen_port < ${portMin} or listen_port > ${portMax})`.as('outsideRange'),
    ])
    .executeTakeFirstOrThrow();
  return { outsideCidr: Number(row.outsideCidr), atNetworkEnds: Number(row.atNetworkEnds), outsideRange: Number(row.outsideRange) };
}

export async function mappingCountOf(db: Db, proxyId: number): Promise<number> {
  // A backup is a use too (issue 17): the database refuses to delete a proxy a mapping lists.
  const row = await db.selectFrom('mappings').select((eb) => eb.fn.countAll<string>().as('n')).where(sql<boolean>`proxy_id = ${proxyId} OR ${proxyId} = ANY (backup_proxy_ids)`).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The use cases' mapping repository on a connection or inside a transaction. */
export const mappingRepository = (db: Db): MappingRepository => ({
  page: (filter, limit, offset) => listMappingsPage(db, filter, limit, offset),
  listAll: (filter) => listAllMappings(db, filter),
  findWithProxy: (id) => findMapping(db, id),
  find: (id) => db.selectFrom('mappings').selectAll().where('id', '=', id).executeTakeFirst(),
  findForUpdate: (id) => findMappingRow(db, id),
  findManyForUpdate: (ids) => findMappingRows(db, ids),
  findByClientIp: (clientIp) => findMappingByClientIp(db, clientIp),
  findByPort: (port) => findMappingByPort(db, port),
  rows: () => db.selectFrom('mappings').selectAll().execute(),
  rowsForUpdate: () => db.selectFrom('mappings').selectAll().orderBy('id').forUpdate().execute(),
  usedPorts: () => usedPorts(db),
  lockListenPorts: () => lockListenPorts(db),
  insert: (fields) => insertMapping(db, fields),
  update: (id, fields) => updateMapping(db, id, fields),
  remove: (id) => deleteMapping(db, id),
  countForProxy: (proxyId) => mappingCountOf(db, proxyId),
  countOutside: (lanCidr, portMin, portMax) => mappingsOutside(db, lanCidr, portMin, portMax),
});
