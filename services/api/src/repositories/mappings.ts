import type { Db, MappingRow } from '@pgw/db';
import { sql } from 'kysely';

/**
 * A mapping row with the proxy facts its effective state depends on. Its timestamps come as the API's
 * ISO 8601 strings (UTC, milliseconds, what Date#toJSON writes): building a Date per row in pg and
 * serialising it again in JSON was a large part of a page's CPU.
 */
export type MappingWithProxy = Omit<MappingRow, 'createdAt' | 'updatedAt'> & {
  createdAt: string;
  updatedAt: string;
  proxyName: string;
  proxyStatus: 'unknown' | 'up' | 'down';
};

/** to_char truncates to milliseconds as pg's Date parsing did, so the strings equal the old Date#toJSON output. */
const isoUtc = (column: 'mappings.createdAt' | 'mappings.updatedAt') => sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export interface MappingFilter {
  proxyId?: number;
  q?: string;
}

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

export function findMappingByClientIp(db: Db, clientIp: string): Promise<MappingRow | undefined> {
  return db.selectFrom('mappings').selectAll().where('clientIp', '=', clientIp).executeTakeFirst();
}

export function findMappingByPort(db: Db, port: number): Promise<MappingRow | undefined> {
  return db.selectFrom('mappings').selectAll().where('listenPort', '=', port).executeTakeFirst();
}

export async function usedPorts(db: Db): Promise<number[]> {
  return (await db.selectFrom('mappings').select('listenPort').execute()).map((r) => r.listenPort);
}

/**
 * Serialises every transaction that writes a listen port, until it commits: an allocation reads the
 * ports in use and inserts under this lock, so two admins saving at once never pick the same port
 * (the unique index would refuse the second with an error under a field it left empty).
 */
export async function lockListenPorts(trx: Db): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext('pgw-mapping-listen-ports'))`.execute(trx);
}

export interface MappingFields {
  clientIp: string;
  proxyId: number;
  listenPort: number;
  enabled: boolean;
  description: string;
  /** Absent: left as it is (an import without the column). */
  macAddress?: string | null;
  /** This client's choice for private destinations; null: the global setting. Absent: left as it is. */
  privateDestinations?: 'deny' | 'allow' | null;
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

/** For a settings change: mappings the new LAN CIDR or port range would leave outside. */
export async function mappingsOutside(db: Db, lanCidr: string, portMin: number, portMax: number): Promise<{ outsideCidr: number; outsideRange: number }> {
  const row = await db
    .selectFrom('mappings')
    .select([
      sql<string>`count(*) filter (where not (client_ip <<= ${lanCidr}::cidr))`.as('outsideCidr'),
      sql<string>`count(*) filter (where listen_port < ${portMin} or listen_port > ${portMax})`.as('outsideRange'),
    ])
    .executeTakeFirstOrThrow();
  return { outsideCidr: Number(row.outsideCidr), outsideRange: Number(row.outsideRange) };
}
