import type { AgentStatus } from '@pgw/events';
import type { Mapping, MappingPage } from '../contract/types.js';
import { notFound } from '../logic/domain-errors.js';
import type { MappingStateKind } from '../logic/mapping-state.js';
import type { QuotaCounts } from '../logic/quota-view.js';
import type { UdpDrops } from '../logic/udp-drops.js';
import { toMappingDto } from './mapping-dto.js';
import type { MappingFilter, MappingRepository, MappingWithProxy } from './ports.js';
import type { ReadCache } from './read-cache.js';

/** Reads of mappings with their effective state, judged from the agent's last reconcile. */
export class MappingQueryService {
  constructor(
    private readonly deps: {
      readonly mappings: MappingRepository;
      /**
       * The agent's last status (null when it is unknown: Redis down, no agent), and per mapping why
       * its client's UDP is dropped (TPROXY mode; empty otherwise or when unknown).
       */
      readonly gateway: () => Promise<{ readonly agent: AgentStatus | null; readonly udpDrops: UdpDrops }>;
      /** What the agents counted against each client's quota (their usage samples); absent: no counts. */
      readonly quotaCounts?: () => Promise<QuotaCounts>;
      /** Pages are served from it (the console's hot read). */
      readonly cache: ReadCache;
    },
  ) {}

  page(filter: MappingFilter, limit: number, offset: number, state?: MappingStateKind): Promise<MappingPage> {
    const key = `mappings ${filter.proxyId ?? ''} ${limit} ${offset} ${state ?? ''} ${filter.q ?? ''}`;
    return this.deps.cache.get(key, () => this.load(filter, limit, offset, state));
  }

  private async load(filter: MappingFilter, limit: number, offset: number, state?: MappingStateKind): Promise<MappingPage> {
    const { mappings } = this.deps;
    const [{ agent, udpDrops }, counts] = await Promise.all([this.deps.gateway(), this.counts()]);
    const dto = (row: MappingWithProxy) => toMappingDto(row, agent, counts, udpDrops.get(row.id) ?? null);
    if (!state) {
      const page = await mappings.page(filter, limit, offset);
      return { items: page.items.map(dto), total: page.total, limit, offset };
    }
    // The effective state is not in Postgres: filter after computing it.
    const matching = (await mappings.listAll(filter)).map(dto).filter((m) => m.effective.state === state);
    return { items: matching.slice(offset, offset + limit), total: matching.length, limit, offset };
  }

  async one(id: number): Promise<Mapping> {
    const [row, { agent, udpDrops }, counts] = await Promise.all([this.deps.mappings.findWithProxy(id), this.deps.gateway(), this.counts()]);
    if (!row) throw notFound(`mapping ${id}`);
    return toMappingDto(row, agent, counts, udpDrops.get(row.id) ?? null);
  }

  private counts(): Promise<QuotaCounts> {
    return this.deps.quotaCounts?.() ?? Promise.resolve(new Map());
  }
}
