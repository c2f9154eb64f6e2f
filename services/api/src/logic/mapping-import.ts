import { createHash } from 'node:crypto';
import type { MappingRow } from '@pgw/db';
import { addTags, mappingTagSchema, type Settings } from '@pgw/domain';
import { parseCsvTable } from '@pgw/domain/csv';
import { conflict, invalid } from './domain-errors.js';
import { promotedFailPolicy } from './fail-policy-input.js';
import { validClientIp, validListenPort, validMacAddress, validQuotaBytes, validRateKbit } from './mapping-rules.js';
import type { MappingFields } from './mapping-shapes.js';
import { FreePorts } from './port-allocation.js';

export const EXPORT_COLUMNS = ['client_ip', 'proxy_name', 'listen_port', 'enabled', 'description', 'mac_address', 'rate_down_kbit', 'rate_up_kbit', 'quota_bytes', 'tags'] as const;

/** A mapping's tags in one CSV cell: separated by spaces (a tag has none), in the stored order, so a round trip is exact. */
export function formatTagsCell(tags: readonly string[]): string {
  return tags.join(' ');
}

/** The tags of a `tags` cell, each once, in the order given; an empty cell is none. Throws naming the bad tag. */
export function parseTagsCell(cell: string): string[] {
  const given = cell.split(/\s+/).filter((t) => t !== '');
  const bad = given.find((t) => !mappingTagSchema.safeParse(t).success);
  if (bad !== undefined) throw new Error(`tag "${bad}" ${mappingTagSchema.safeParse(bad).error!.issues[0]!.message}`);
  const tags = addTags([], given);
  if (tags === null) throw new Error('more than 16 tags');
  return tags;
}

/** The limit columns (issue 16), in the api's units; like mac_address optional: without the column a limit is left as it is, an empty cell lifts it. */
const LIMIT_COLUMNS = { rate_down_kbit: 'rateDownKbit', rate_up_kbit: 'rateUpKbit', quota_bytes: 'quotaBytes' } as const;

/** What an import compares a row with: the stored mapping of the same client. */
export type StoredMapping = Pick<MappingRow, 'id' | 'clientIp' | 'listenPort' | 'proxyId' | 'backupProxyIds' | 'failPolicy' | 'enabled' | 'description' | 'macAddress' | 'rateDownKbit' | 'rateUpKbit' | 'quotaBytes' | 'tags'>;

export interface ImportSnapshot {
  settings: Settings;
  proxies: readonly { id: number; name: string }[];
  mappings: readonly StoredMapping[];
}

/** A file row to write; macAddress and tags are present only when the file has their column (null unpins, [] untags). */
export type PlannedRow = Omit<MappingFields, 'privateDestinations'> & {
  line: number;
  /** Set when the client already has a mapping: the row updates it. */
  existingId: number | null;
  /** An unchanged row is not written: no audit row, no new updated_at, so the client stays applied. */
  change: 'create' | 'update' | 'unchanged';
};

interface RowProblem {
  line: number;
  field: string;
  message: string;
}

/** Problems listed in an error's details: enough to fix a file by, never the whole of a bad one. */
const LISTED_PROBLEMS = 100;
/** A problem's message at most: a cell is echoed to name it, not returned whole. */
const MESSAGE_CHARS = 200;

/** Every problem counted, the first LISTED_PROBLEMS kept, each message cut to MESSAGE_CHARS. */
class Problems {
  readonly listed: RowProblem[] = [];
  count = 0;

  add(line: number, field: string, message: string): void {
    this.count++;
    if (this.listed.length < LISTED_PROBLEMS) this.listed.push({ line, field, message: message.length <= MESSAGE_CHARS ? message : `${message.slice(0, MESSAGE_CHARS - 1)}…` });
  }

  /** The first problem, and how many more there are, for an error's message. */
  summary(): string {
    const first = this.listed[0]!;
    return `line ${first.line}: ${first.message}${this.count > 1 ? ` (and ${this.count - 1} more)` : ''}`;
  }
}

/** A Map, not an object literal: a cell such as `constructor` must not find Object.prototype's members. */
const BOOLEAN: ReadonlyMap<string, boolean> = new Map([['true', true], ['false', false], ['1', true], ['0', false], ['yes', true], ['no', false]]);

/**
 * Turns an uploaded CSV into the rows to create or update, checking everything against a snapshot
 * of the database. Any problem rejects the whole file (400, or 409 for duplicates), every problem
 * listed with its line and column.
 */
export function planImport(text: string, snapshot: ImportSnapshot): PlannedRow[] {
  let table;
  try {
    table = parseCsvTable(text);
  } catch (error) {
    throw invalid('body', (error as Error).message);
  }
  const { header: columns, rows: data } = table;
  const col = (name: string) => columns.indexOf(name);
  const unknown = columns.find((c) => ![...EXPORT_COLUMNS, 'proxy_id'].includes(c));
  if (unknown !== undefined) throw invalid('body', `unknown column "${unknown}" in the header`);
  if (col('client_ip') < 0) throw invalid('body', 'the header has no client_ip column');
  if (col('proxy_name') < 0 && col('proxy_id') < 0) throw invalid('body', 'the header needs a proxy_name or proxy_id column');

  const { settings } = snapshot;
  // Each row is a mapping and each mapping a port of the range: a longer file cannot apply, and is
  // refused before its rows cost anything.
  const capacity = settings.forwarderPortMax - settings.forwarderPortMin + 1;
  if (data.length > capacity) throw invalid('body', `${data.length} rows, but the forwarder port range ${settings.forwarderPortMin}-${settings.forwarderPortMax} holds at most ${capacity} mappings`);
  const byName = new Map(snapshot.proxies.map((p) => [p.name, p.id]));
  const ids = new Set(snapshot.proxies.map((p) => p.id));
  const existingByIp = new Map(snapshot.mappings.map((m) => [m.clientIp, m]));
  const problems = new Problems();
  const duplicates = new Problems();
  const seenIps = new Map<string, number>();
  const planned: (Omit<PlannedRow, 'listenPort' | 'change'> & { listenPort: number | null })[] = [];

  for (const { line, fields } of data) {
    const get = (name: string) => (col(name) >= 0 ? fields[col(name)]!.trim() : '');
    const fail = (field: string, message: string) => problems.add(line, field, message);
    let clientIp: string | null = null;
    try {
      clientIp = validClientIp(get('client_ip'), settings, 'client_ip');
    } catch (error) {
      fail('client_ip', (error as Error).message);
    }
    let proxyId: number | undefined;
    if (get('proxy_id') !== '') {
      proxyId = /^\d+$/.test(get('proxy_id')) && ids.has(Number(get('proxy_id'))) ? Number(get('proxy_id')) : undefined;
      if (proxyId === undefined) fail('proxy_id', `no proxy with id "${get('proxy_id')}"`);
    } else {
      proxyId = byName.get(get('proxy_name'));
      if (proxyId === undefined) fail('proxy_name', get('proxy_name') ? `no proxy named "${get('proxy_name')}"` : 'proxy_name is empty');
    }
    let listenPort: number | null = null;
    if (get('listen_port') !== '') {
      try {
        if (!/^\d{1,5}$/.test(get('listen_port'))) throw new Error(`listen_port "${get('listen_port')}" is not a port number`);
        listenPort = validListenPort(Number(get('listen_port')), settings, 'listen_port');
      } catch (error) {
        fail('listen_port', (error as Error).message);
      }
    }
    // Without the column, or in an empty cell, a mapping keeps what it has (a disabled client stays
    // disabled); a new one is enabled with no description.
    const existing = clientIp === null ? undefined : existingByIp.get(clientIp);
    const enabled = get('enabled') === '' ? (existing?.enabled ?? true) : BOOLEAN.get(get('enabled').toLowerCase());
    if (enabled === undefined) fail('enabled', `enabled "${get('enabled')}" is not true/false`);
    const description = col('description') >= 0 ? fields[col('description')]! : (existing?.description ?? '');
    if (description.length > 500) fail('description', 'description is longer than 500 characters');
    let mac: { macAddress?: string | null } = {};
    if (col('mac_address') >= 0) {
      try {
        mac = { macAddress: get('mac_address') === '' ? null : validMacAddress(get('mac_address'), 'mac_address') };
      } catch (error) {
        fail('mac_address', (error as Error).message);
      }
    }
    const limits: { rateDownKbit?: number | null; rateUpKbit?: number | null; quotaBytes?: number | null } = {};
    for (const [column, field] of Object.entries(LIMIT_COLUMNS) as [keyof typeof LIMIT_COLUMNS, (typeof LIMIT_COLUMNS)[keyof typeof LIMIT_COLUMNS]][]) {
      if (col(column) < 0) continue;
      const cell = get(column);
      try {
        if (cell !== '' && !/^\d{1,16}$/.test(cell)) throw new Error(`${column} "${cell}" is not a whole number${column === 'quota_bytes' ? ' of bytes' : ' of kbit/s'} (or empty: unlimited)`);
        const value = cell === '' ? null : Number(cell);
        limits[field] = column === 'quota_bytes' ? validQuotaBytes(value, column) : validRateKbit(value, column);
      } catch (error) {
        fail(column, (error as Error).message);
      }
    }
    let tags: { tags?: string[] } = {};
    if (col('tags') >= 0) {
      try {
        tags = { tags: parseTagsCell(get('tags')) };
      } catch (error) {
        fail('tags', (error as Error).message);
      }
    }
    if (clientIp !== null) {
      const first = seenIps.get(clientIp);
      if (first !== undefined) duplicates.add(line, 'client_ip', `client_ip ${clientIp} is also on line ${first}`);
      seenIps.set(clientIp, line);
    }
    if (clientIp !== null && proxyId !== undefined && enabled !== undefined) {
      // A backup made the primary leaves the backups, as an edit does (the mapping's own proxy is never its backup).
      const backups = existing?.backupProxyIds.includes(proxyId) ? promotedFailPolicy(existing, proxyId) : {};
      planned.push({ line, existingId: existing?.id ?? null, clientIp, proxyId, listenPort: listenPort ?? existing?.listenPort ?? null, enabled, description, ...mac, ...limits, ...tags, ...backups });
    }
  }
  if (problems.count > 0) throw invalid(problems.listed[0]!.field, problems.summary(), { rows: problems.listed, count: problems.count });

  // Ports: those the file names, plus those of mappings the file does not touch, are taken.
  const touched = new Set(planned.map((p) => p.existingId).filter((id) => id !== null));
  const taken = new Map<number, string>();
  for (const m of snapshot.mappings) if (!touched.has(m.id)) taken.set(m.listenPort, `the mapping of ${m.clientIp}`);
  for (const p of planned) {
    if (p.listenPort === null) continue;
    const holder = taken.get(p.listenPort);
    if (holder) duplicates.add(p.line, 'listen_port', `listen_port ${p.listenPort} is already used by ${holder}`);
    taken.set(p.listenPort, `line ${p.line}`);
  }
  if (duplicates.count > 0) throw conflict(duplicates.listed[0]!.field, duplicates.summary(), { rows: duplicates.listed, count: duplicates.count });
  const byId = new Map(snapshot.mappings.map((m) => [m.id, m]));
  const free = new FreePorts(settings.forwarderPortMin, settings.forwarderPortMax, taken);
  return planned.map((p) => {
    let listenPort = p.listenPort;
    if (listenPort === null) {
      listenPort = free.next();
      // A full range is not the fault of an empty listen_port cell: the error names no column.
      if (listenPort === null) throw conflict(undefined, `line ${p.line}: no free forwarder port left in ${settings.forwarderPortMin}-${settings.forwarderPortMax}`);
      taken.set(listenPort, `line ${p.line}`);
    }
    const row = { ...p, listenPort };
    const stored = p.existingId === null ? undefined : byId.get(p.existingId);
    return { ...row, change: !stored ? 'create' : sameAsStored(row, stored) ? 'unchanged' : 'update' };
  });
}

/** Every field the row sets equals the stored one (a row without mac_address or tags leaves them alone; tag order counts, as the export keeps it). */
function sameAsStored(row: Omit<PlannedRow, 'change'>, stored: StoredMapping): boolean {
  return (
    row.proxyId === stored.proxyId &&
    row.listenPort === stored.listenPort &&
    row.enabled === stored.enabled &&
    row.description === stored.description &&
    (row.macAddress === undefined || row.macAddress === stored.macAddress) &&
    (row.tags === undefined || (row.tags.length === stored.tags.length && row.tags.every((t, i) => t === stored.tags[i]))) &&
    (row.rateDownKbit === undefined || row.rateDownKbit === stored.rateDownKbit) &&
    (row.rateUpKbit === undefined || row.rateUpKbit === stored.rateUpKbit) &&
    (row.quotaBytes === undefined || row.quotaBytes === (stored.quotaBytes === null ? null : Number(stored.quotaBytes)))
  );
}

/**
 * The version of what an import of a file would do, an HTTP entity tag: its plan (every row's
 * values), and the stored mappings the plan changes as they stand. The preview gives it; an import
 * whose If-Match names another is refused (412): a mapping changed since the preview the operator
 * read (another admin disabled it, say) would otherwise be written over unseen.
 */
export function importPlanVersion(plan: readonly PlannedRow[], stored: ReadonlyMap<number, StoredMapping>): string {
  const touched = (id: number | null) => {
    const m = id === null ? undefined : stored.get(id);
    return m === undefined ? null : [m.proxyId, m.listenPort, m.enabled, m.description, m.macAddress, m.failPolicy, m.backupProxyIds, m.rateDownKbit, m.rateUpKbit, m.quotaBytes === null ? null : String(m.quotaBytes), m.tags];
  };
  // Each planned row whole (what it would write: client, proxy, port, ...), not only its line and
  // kind: another file of the same rows and kinds under the preview's version was written unseen.
  const canonical = JSON.stringify(plan.map((p) => [p, touched(p.existingId)]));
  return `"${createHash('sha256').update(canonical).digest('base64url').slice(0, 22)}"`;
}
