import type { AgentStatus } from '@pgw/events';
import type { Mapping, MappingPage } from '../contract/types.js';
import { notFound } from '../domain-errors.js';
import type { MappingStateKind } from '../logic/mapping-state.js';
import { toMappingDto } from '../mapping-dto.js';
import type { MappingFilter, MappingRepository } from './ports.js';
import type { ReadCache } from './read-cache.js';

/** Reads of mappings with their effective state, judged from the agent's last reconcile. */
export class MappingQueryService {
  constructor(
    private readonly deps: {
      readonly mappings: MappingRepository;
      /** The agent's last status; null when it is unknown (Redis down, no agent). */
      readonly agentStatus: () => Promise<AgentStatus | null>;
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
    const agent = await this.deps.agentStatus();
    if (!state) {
      const page = await mappings.page(filter, limit, offset);
      return { items: page.items.map((row) => toMappingDto(row, agent)), total: page.total, limit, offset };
    }
    // The effective state is not in Postgres: filter after computing it.
    const matching = (await mappings.listAll(filter)).map((row) => toMappingDto(row, agent)).filter((m) => m.effective.state === state);
    return { items: matching.slice(offset, offset + limit), total: matching.length, limit, offset };
  }

  async one(id: number): Promise<Mapping> {
    const [row, agent] = await Promise.all([this.deps.mappings.findWithProxy(id), this.deps.agentStatus()]);
    if (!row) throw notFound(`mapping ${id}`);
    return toMappingDto(row, agent);
  }
}
