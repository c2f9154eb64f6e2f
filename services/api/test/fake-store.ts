import type { MappingRow, ProxyRow } from '@pgw/db';
import { cidrContains, DEFAULT_SETTINGS, ipv4CidrSchema, ipv4Schema, networkEndOf, type Settings } from '@pgw/domain';
import type { PgwEvent, ProbeResult } from '@pgw/events';
import type {
  Actor, AuditEntry, MappingFilter, MappingRepository, MappingWithProxy, Prober, ProxyRepository, Publisher, Repositories, Store,
} from '../src/services/ports.js';

/**
 * In-memory repositories for the use-case specs: the same contract as repositories/store.ts on
 * Postgres (unique client IP, port and proxy name; a transaction that throws leaves nothing behind),
 * without a database. The Postgres side is covered by test/integration/api-*.test.ts.
 */
interface Tables {
  mappings: MappingRow[];
  proxies: ProxyRow[];
  settings: Settings;
  audit: (AuditEntry & { actor: Actor })[];
  nextId: number;
  locks: number;
}

const at = new Date('2026-01-01T00:00:00.000Z');

export class FakeStore implements Store {
  readonly tables: Tables = { mappings: [], proxies: [], settings: DEFAULT_SETTINGS, audit: [], nextId: 1, locks: 0 };
  readonly mappings: MappingRepository = this.mappingRepository();
  readonly proxies: ProxyRepository = this.proxyRepository();
  readonly settings = { load: async () => this.tables.settings, save: async (settings: Settings) => void (this.tables.settings = { ...this.tables.settings, ...settings }) }; // as the UPDATE: a field left out keeps its value
  readonly audit = { write: async (actor: Actor, entry: AuditEntry) => void this.tables.audit.push({ ...entry, actor }) };

  async transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T> {
    const saved = structuredClone(this.tables);
    try {
      return await work(this);
    } catch (error) {
      Object.assign(this.tables, saved);
      throw error;
    }
  }

  /** A proxy as the health service left it. */
  addProxy(name: string, status: ProxyRow['status'] = 'up'): ProxyRow {
    const row: ProxyRow = {
      id: this.tables.nextId++, name, protocol: 'socks5', host: '198.51.100.10', port: 1080, username: null, passwordEnc: null, hasPassword: false, status,
      handshakeMode: 'auto', handshakeLearned: null, udpSupport: null, udpCheckedAt: null, exitDiffers: false, statusChangedAt: null, latencyMs: null, exitIp: null, lastError: null, lastCheckedAt: null,
      consecutiveSuccesses: 0, consecutiveFailures: 0, lastProbeStartedAt: null, createdAt: at, updatedAt: at,
    };
    this.tables.proxies.push(row);
    return row;
  }

  private unique<T>(rows: T[], key: keyof T, value: unknown, selfId: number | undefined, constraint: string) {
    if (rows.some((r) => r[key] === value && (r as { id: number }).id !== selfId)) throw Object.assign(new Error(`duplicate key (${constraint})`), { code: '23505', constraint });
  }

  private mappingRepository(): MappingRepository {
    const t = () => this.tables;
    const withProxy = (row: MappingRow): MappingWithProxy => {
      const proxy = t().proxies.find((p) => p.id === row.proxyId)!;
      return { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString(), proxyName: proxy.name, proxyStatus: proxy.status };
    };
    const matching = (filter: MappingFilter = {}) =>
      t().mappings
        .filter((m) => !filter.proxyId || m.proxyId === filter.proxyId)
        .filter((m) => !filter.q || m.clientIp.includes(filter.q) || m.description.toLowerCase().includes(filter.q.toLowerCase()))
        .sort((a, b) => a.id - b.id)
        .map(withProxy);
    const check = (fields: Pick<Partial<MappingRow>, 'clientIp' | 'listenPort'>, selfId?: number) => {
      if (fields.clientIp !== undefined) this.unique(t().mappings, 'clientIp', fields.clientIp, selfId, 'mappings_client_ip_key');
      if (fields.listenPort !== undefined) this.unique(t().mappings, 'listenPort', fields.listenPort, selfId, 'mappings_listen_port_key');
    };
    return {
      page: async (filter, limit, offset) => ({ items: matching(filter).slice(offset, offset + limit), total: matching(filter).length }),
      listAll: async (filter) => matching(filter),
      findWithProxy: async (id) => matching().find((m) => m.id === id),
      find: async (id) => t().mappings.find((m) => m.id === id),
      findForUpdate: async (id) => t().mappings.find((m) => m.id === id),
      findManyForUpdate: async (ids) => t().mappings.filter((m) => ids.includes(m.id)).sort((a, b) => a.id - b.id),
      findByClientIp: async (clientIp) => t().mappings.find((m) => m.clientIp === clientIp),
      findByPort: async (port) => t().mappings.find((m) => m.listenPort === port),
      rows: async () => [...t().mappings],
      rowsForUpdate: async () => [...t().mappings].sort((a, b) => a.id - b.id),
      usedPorts: async () => t().mappings.map((m) => m.listenPort),
      lockListenPorts: async () => void t().locks++,
      insert: async (fields) => {
        check(fields);
        const row: MappingRow = {
          failPolicy: 'closed', backupProxyIds: [], tags: [], macAddress: null, privateDestinations: null, rateDownKbit: null, rateUpKbit: null, quotaEpoch: 0,
          ...fields, quotaBytes: fields.quotaBytes == null ? null : String(fields.quotaBytes), id: t().nextId++, createdAt: at, updatedAt: at,
        };
        t().mappings.push(row);
        return row;
      },
      update: async (id, fields) => {
        check(fields, id);
        const index = t().mappings.findIndex((m) => m.id === id);
        // As pg returns it: bigint quota_bytes as a string.
        const { quotaBytes, ...rest } = fields;
        const quota = quotaBytes === undefined ? {} : { quotaBytes: quotaBytes === null ? null : String(quotaBytes) };
        const row: MappingRow = { ...t().mappings[index]!, ...rest, ...quota, updatedAt: new Date() };
        t().mappings[index] = row;
        return row;
      },
      remove: async (id) => void (t().mappings = t().mappings.filter((m) => m.id !== id)),
      countForProxy: async (proxyId) => t().mappings.filter((m) => m.proxyId === proxyId || m.backupProxyIds.includes(proxyId)).length,
      countOutside: async (lanCidr, portMin, portMax) => ({
        outsideCidr: t().mappings.filter((m) => !cidrContains(ipv4CidrSchema.parse(lanCidr), ipv4Schema.parse(m.clientIp))).length,
        atNetworkEnds: t().mappings.filter((m) => networkEndOf(ipv4CidrSchema.parse(lanCidr), ipv4Schema.parse(m.clientIp)) !== null).length,
        outsideRange: t().mappings.filter((m) => m.listenPort < portMin || m.listenPort > portMax).length,
      }),
    };
  }

  private proxyRepository(): ProxyRepository {
    const t = () => this.tables;
    return {
      find: async (id) => t().proxies.find((p) => p.id === id),
      findByName: async (name) => t().proxies.find((p) => p.name === name),
      names: async () => t().proxies.map(({ id, name }) => ({ id, name })),
      hosts: async () => t().proxies.map(({ id, name, host }) => ({ id, name, host })),
      insert: async (fields) => {
        this.unique(t().proxies, 'name', fields.name, undefined, 'proxies_name_key');
        const row = this.addProxy(fields.name, 'unknown');
        Object.assign(row, fields);
        row.hasPassword = row.passwordEnc !== null; // generated in Postgres (migration 0027)
        return row;
      },
      update: async (id, fields) => {
        if (fields.name !== undefined) this.unique(t().proxies, 'name', fields.name, id, 'proxies_name_key');
        const row = t().proxies.find((p) => p.id === id)!;
        // As migration 0004's trigger does: a changed endpoint is unknown until probed again.
        const endpoint = (['protocol', 'host', 'port', 'username', 'passwordEnc'] as const).some((k) => fields[k] !== undefined && fields[k] !== row[k]);
        Object.assign(row, fields, { updatedAt: new Date() }, endpoint ? { status: 'unknown' } : {});
        row.hasPassword = row.passwordEnc !== null;
        return row;
      },
      remove: async (id) => void (t().proxies = t().proxies.filter((p) => p.id !== id)),
    };
  }
}

/** A health service that answers every probe with the result set for the proxy (up by default), and counts them. */
export class FakeProber implements Prober {
  readonly probed: number[] = [];
  readonly results = new Map<number, Partial<ProbeResult>>();
  /** What happens elsewhere while a proxy is probed (another admin's write), by proxy id. */
  readonly meanwhile = new Map<number, () => void>();

  async probe(proxyId: number): Promise<ProbeResult> {
    this.probed.push(proxyId);
    this.meanwhile.get(proxyId)?.();
    return { proxyId, ok: true, latencyMs: 12, exitIp: '198.51.100.10', error: null, checkedAt: at.toISOString(), ...this.results.get(proxyId) };
  }
}

export class FakePublisher implements Publisher {
  readonly events: PgwEvent[] = [];

  async publish(event: PgwEvent): Promise<void> {
    this.events.push(event);
  }
}

export const ACTOR: Actor = { userId: 1, username: 'admin', sourceIp: '127.0.0.1', userAgent: 'spec', requestId: 'req-1' };
