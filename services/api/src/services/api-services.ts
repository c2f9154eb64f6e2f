import type { AgentStatus, ForwarderStatus } from '@pgw/events';
import type { DashboardCounts } from '../repositories/status.js';
import { MappingCsvService } from './mapping-csv.service.js';
import { MappingQueryService } from './mapping-query.service.js';
import { MappingService } from './mapping.service.js';
import type { Prober, Publisher, Store } from './ports.js';
import { ProxyService } from './proxy.service.js';
import { SettingsService } from './settings.service.js';
import { StatusService } from './status.service.js';

/** The use cases the routes call. */
export interface ApiServices {
  readonly mappings: MappingService;
  readonly mappingQueries: MappingQueryService;
  readonly mappingCsv: MappingCsvService;
  readonly proxies: ProxyService;
  readonly settings: SettingsService;
  readonly status: StatusService;
}

export interface ServiceDeps {
  readonly store: Store;
  readonly prober: Prober;
  readonly publisher: Publisher;
  readonly components: () => Promise<{ agent: AgentStatus | null; forwarder: ForwarderStatus | null }>;
  readonly dashboardCounts: () => Promise<DashboardCounts>;
  readonly secretKey: Buffer;
  readonly allowedNetworks: readonly string[];
  /** Added to the probe timeout of the settings while a use case waits for the health service. */
  readonly probeWaitMarginMs: number;
}

export function createServices(deps: ServiceDeps): ApiServices {
  return {
    mappings: new MappingService(deps),
    mappingQueries: new MappingQueryService({ mappings: deps.store.mappings, agentStatus: async () => (await deps.components()).agent }),
    mappingCsv: new MappingCsvService(deps),
    proxies: new ProxyService(deps),
    settings: new SettingsService(deps),
    status: new StatusService({ counts: deps.dashboardCounts, components: deps.components }),
  };
}
