import type { ApiProxyRow, AuditLogRow, MappingRow, ProxyRow } from '@pgw/db';
import type { ProxyStatus, Settings } from '@pgw/domain';
import type { PgwEvent, ProbeResult } from '@pgw/events';
import type { MappingFields, MappingWithProxy } from '../logic/mapping-shapes.js';

/**
 * What the use cases need from storage and from the other processes. repositories/store.ts
 * implements the repositories on Postgres; the specs beside each service use an in-memory fake
 * (services/api/test/fake-store.ts). Only what a use case calls is here.
 */

/** Who did it, from where, in which request: stamped on every audit row. */
export interface Actor {
  readonly userId: number | null;
  readonly username: string | null;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  readonly requestId: string;
  /**
   * The token version the request was authenticated under, when a user's session made it: the
   * audit write refuses the change if it is no longer the user's (role or password changed, user
   * deleted while the request ran).
   */
  readonly tokenVersion?: number | null;
}

export type EntityType = 'user' | 'proxy' | 'mapping' | 'settings' | 'session';

export interface AuditEntry {
  action: string;
  entityType: EntityType;
  entityId: string | number | null;
  before: unknown;
  after: unknown;
}

// A mapping's columns and its row with the proxy: defined in logic/ (the rules read them too).
export type { MappingFields, MappingWithProxy };

export interface MappingFilter {
  proxyId?: number | undefined;
  q?: string | undefined;
}

/** The stored mappings a settings change would leave without a usable client address or port. */
export interface MappingsOutside {
  readonly outsideCidr: number;
  /** Clients at the network or broadcast address of the new LAN. */
  readonly atNetworkEnds: number;
  readonly outsideRange: number;
}

export interface MappingRepository {
  /** One page in id order and the total that matches the filter. */
  page(filter: MappingFilter, limit: number, offset: number): Promise<{ items: MappingWithProxy[]; total: number }>;
  listAll(filter?: MappingFilter): Promise<MappingWithProxy[]>;
  findWithProxy(id: number): Promise<MappingWithProxy | undefined>;
  find(id: number): Promise<MappingRow | undefined>;
  /** The row, locked until the transaction ends. */
  findForUpdate(id: number): Promise<MappingRow | undefined>;
  /** The rows that exist of `ids`, in id order, locked until the transaction ends (one query however many). */
  findManyForUpdate(ids: readonly number[]): Promise<MappingRow[]>;
  findByClientIp(clientIp: string): Promise<MappingRow | undefined>;
  findByPort(port: number): Promise<MappingRow | undefined>;
  rows(): Promise<MappingRow[]>;
  /** Every row, locked for this transaction (in id order, as every multi-row lock takes them). */
  rowsForUpdate(): Promise<MappingRow[]>;
  usedPorts(): Promise<number[]>;
  /**
   * Serialises every transaction that writes a listen port, until it commits: an allocation reads the
   * ports in use and inserts under this lock, so two admins saving at once never pick the same port.
   */
  lockListenPorts(): Promise<void>;
  insert(fields: MappingFields): Promise<MappingRow>;
  update(id: number, fields: Partial<MappingFields>): Promise<MappingRow>;
  remove(id: number): Promise<void>;
  countForProxy(proxyId: number): Promise<number>;
  /** For a settings change: mappings the new LAN CIDR or port range would leave outside. */
  countOutside(lanCidr: string, portMin: number, portMax: number): Promise<MappingsOutside>;
}

/** The columns of a proxy an operator sets; the rest are the health service's or generated. */
export type ProxyFields = Pick<ProxyRow, 'name' | 'protocol' | 'host' | 'port' | 'username' | 'passwordEnc'> & { handshakeMode?: ProxyRow['handshakeMode']; exitDiffers?: boolean };

export interface ProxyRepository {
  find(id: number, options?: { lock: boolean }): Promise<ApiProxyRow | undefined>;
  findByName(name: string): Promise<ApiProxyRow | undefined>;
  names(): Promise<{ id: number; name: string }[]>;
  /** Every proxy's host as stored (a settings change judges them against the new LAN). */
  hosts(): Promise<{ id: number; name: string; host: string }[]>;
  insert(fields: ProxyFields): Promise<ApiProxyRow>;
  /** A changed endpoint sets the status back to unknown in Postgres (migration 0004): fail closed until probed. */
  update(id: number, fields: Partial<ProxyFields>): Promise<ApiProxyRow>;
  remove(id: number): Promise<void>;
}

export interface SettingsRepository {
  /** `lock`: the row stays locked until the transaction ends. */
  load(options?: { lock?: boolean }): Promise<Settings>;
  save(settings: Settings): Promise<void>;
}

export interface AuditRepository {
  /** Call inside the transaction of the change it records, so both commit or neither does. */
  write(actor: Actor, entry: AuditEntry): Promise<void>;
}

/** What an operator searches the audit log by; every field set narrows the result. */
export interface AuditFilter {
  /** Rows with a smaller id (the cursor of the previous page). */
  before?: string | undefined;
  actor?: string | undefined;
  entityType?: string | undefined;
  entityId?: string | undefined;
  action?: string | undefined;
  sourceIp?: string | undefined;
  /** Case-insensitive substring of actor, action, entity id, source IP, user agent, before or after. */
  text?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** Rows about these kinds of entity are left out, whatever the other filters say (a viewer's reads). */
  hiddenEntityTypes?: readonly string[] | undefined;
  /** Source IP and User-Agent left out of the rows and of the text search (a viewer's reads). */
  withoutClients?: boolean | undefined;
}

export interface AuditReader {
  /** Up to `limit` matching rows, newest (highest id) first; rejects with AuditSearchTimeout past its time limit. */
  search(filter: AuditFilter, limit: number): Promise<AuditLogRow[]>;
}

/** An audit search that ran past its time limit and was cancelled (a text search over a large log). */
export class AuditSearchTimeout extends Error {
  constructor(readonly limitMs: number) {
    super(`the audit search was cancelled after ${limitMs} ms`);
  }
}

export interface Repositories {
  readonly mappings: MappingRepository;
  readonly proxies: ProxyRepository;
  readonly settings: SettingsRepository;
  readonly audit: AuditRepository;
}

/** The repositories outside a transaction, and a way to run work in one (all of it commits or none). */
export interface Store extends Repositories {
  transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T>;
}

/** Proxy and mapping counts for the dashboard. */
export interface DashboardCounts {
  proxies: Record<ProxyStatus, number>;
  mappings: { total: number; enabled: number };
}

/** On-demand probes through the health service (probe-gate.ts). */
export interface Prober {
  probe(proxyId: number, timeoutMs: number): Promise<ProbeResult>;
}

/** Change notices after the commit (notifier.ts); a lost notice costs latency, never correctness. */
export interface Publisher {
  publish(event: PgwEvent): Promise<void>;
}
