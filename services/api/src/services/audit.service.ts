import type { AuditLogRow } from '@pgw/db';
import { formatCsv } from '@pgw/domain/csv';
import type { Role } from '../auth/auth-context.js';
import { invalid } from '../logic/domain-errors.js';
import type { WorkGate } from '../logic/work-gate.js';
import { AuditSearchTimeout, type AuditFilter, type AuditReader } from './ports.js';

/** A page of the search; the spec's default and maximum (API_SPEC.yaml, parameters Limit). */
export const AUDIT_PAGE_DEFAULT = 100;
/** One export holds at most this many rows: a bounded response, continued with the cursor. */
export const AUDIT_EXPORT_MAX = 10_000;

export const AUDIT_CSV_COLUMNS = ['id', 'at', 'actor', 'source_ip', 'user_agent', 'action', 'entity_type', 'entity_id', 'before', 'after', 'request_id'] as const;

export interface AuditPage {
  items: AuditLogRow[];
  /** The id to pass as `before` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface AuditExport {
  csv: string;
  /** Set when more rows match than one export holds: `before` for the next export. */
  nextCursor: string | null;
}

type Query = Readonly<Record<string, unknown>>;

/**
 * What a viewer does not read (API_SPEC.yaml: a viewer reads everything except users): the rows
 * about users (created, changed, deleted, failed logins, password changes) and sessions (logins
 * and logouts), which name usernames, roles and the admins' addresses and browsers.
 */
const HIDDEN_FROM: Readonly<Record<Role, readonly string[]>> = { admin: [], viewer: ['user', 'session'] };
/** Nor, on the rows it reads, the admins' addresses and browsers (source IP, User-Agent). */
const CLIENTS_HIDDEN_FROM: ReadonlySet<Role> = new Set(['viewer']);

const text = (query: Query, name: string): string | undefined => {
  const value = query[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
};

const date = (query: Query, name: string): Date | undefined => {
  const value = text(query, name);
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) throw invalid(name, `${name} is not a date and time (ISO 8601, e.g. 2026-01-31T12:00:00Z)`);
  return parsed;
};

/**
 * The filter of a search or export from its query parameters (the OpenAPI validator already checked
 * their types and lengths). An empty parameter is no filter, as an empty field of the console is.
 */
export function auditFilter(query: Query, reader: Role): AuditFilter {
  const withoutClients = CLIENTS_HIDDEN_FROM.has(reader);
  if (withoutClients && text(query, 'sourceIp') !== undefined) throw invalid('sourceIp', 'a viewer does not read the source addresses of the audit log');
  const filter: AuditFilter = {
    hiddenEntityTypes: HIDDEN_FROM[reader],
    withoutClients,
    before: text(query, 'before'),
    actor: text(query, 'actor'),
    entityType: text(query, 'entityType'),
    entityId: text(query, 'entityId'),
    action: text(query, 'action'),
    sourceIp: text(query, 'sourceIp'),
    text: text(query, 'q'),
    from: date(query, 'from'),
    to: date(query, 'to'),
  };
  if (filter.from && filter.to && filter.from >= filter.to) throw invalid('to', 'the end of the time range must be after its start');
  return filter;
}

function limitOf(query: Query, fallback: number, max: number): number {
  const value = query.limit === undefined || query.limit === '' ? fallback : Number(query.limit);
  if (!Number.isInteger(value) || value < 1 || value > max) throw invalid('limit', `limit must be a whole number from 1 to ${max}`);
  return value;
}

const json = (value: unknown) => (value === null || value === undefined ? '' : JSON.stringify(value));

/** The audit log as operators search it: filtered, newest first, paged by id cursor, and as CSV. */
export class AuditService {
  /**
   * `gate` bounds the reads running at once (GateFull past its queue: the route answers 429): a
   * text search reads every row of a log that only grows, and sixteen of them held the whole
   * Postgres pool for seconds, failing every other request of the api, logins included.
   */
  constructor(
    private readonly reader: AuditReader,
    private readonly gate: WorkGate,
  ) {}

  /** One more row than asked for tells whether there is a next page, without a count over the whole log. */
  private async read(filter: AuditFilter, limit: number): Promise<AuditPage> {
    let rows: AuditLogRow[];
    try {
      rows = await this.gate.run(() => this.reader.search(filter, limit + 1));
    } catch (error) {
      if (!(error instanceof AuditSearchTimeout)) throw error;
      throw invalid(filter.text ? 'q' : undefined, `the search read the audit log for ${error.limitMs / 1000} s without finishing: narrow it (a time range, an entity type, an actor or an action)`);
    }
    const items = rows.slice(0, limit);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  /** `reader`: the caller's role, which decides the rows it may read. */
  async search(query: Query, reader: Role): Promise<AuditPage> {
    return this.read(auditFilter(query, reader), limitOf(query, AUDIT_PAGE_DEFAULT, 1000));
  }

  /** CSV through the one formatter (@pgw/domain/csv), which defuses spreadsheet formulas. */
  async exportCsv(query: Query, reader: Role): Promise<AuditExport> {
    const page = await this.read(auditFilter(query, reader), limitOf(query, AUDIT_EXPORT_MAX, AUDIT_EXPORT_MAX));
    const rows = page.items.map((r) => [
      r.id,
      r.at.toISOString(),
      r.actorUsername ?? '',
      r.sourceIp ?? '',
      r.userAgent ?? '',
      r.action,
      r.entityType,
      r.entityId ?? '',
      json(r.before),
      json(r.after),
      r.requestId ?? '',
    ]);
    return { csv: formatCsv(AUDIT_CSV_COLUMNS, rows), nextCursor: page.nextCursor };
  }
}
