import type { PasswordSealer } from '@pgw/crypto';
import type { AgentStatus, ForwarderStatus, NeighbourRecord } from '@pgw/events';
import { AuditService } from './audit.service.js';
import { DeviceService } from './device.service.js';
import { MappingBulkService } from './mapping-bulk.service.js';
import { MappingImportPreviewService } from './mapping-import-preview.service.js';
import { MappingCsvService } from './mapping-csv.service.js';
import { MappingQueryService } from './mapping-query.service.js';
import { MappingService } from './mapping.service.js';
import { NodeService } from './node.service.js';
import type { NodeStatus } from '../reports/component-status-reader.js';
import type { AuditReader, DashboardCounts, Prober, Publisher, Store } from './ports.js';
import { ProxyService } from './proxy.service.js';
import { ReadCache } from './read-cache.js';
import { SettingsService } from './settings.service.js';
import { StatusService } from './status.service.js';
import { type UsageHistory, UsageService } from './usage.service.js';
import type { QuotaCounts } from '../logic/quota-view.js';
import { type UdpDrops, udpDropsOf } from '../logic/udp-drops.js';
import { WorkGate } from '../logic/work-gate.js';

/** The use cases the routes call. */
export interface ApiServices {
  readonly mappings: MappingService;
  readonly mappingQueries: MappingQueryService;
  readonly mappingCsv: MappingCsvService;
  readonly proxies: ProxyService;
  readonly settings: SettingsService;
  readonly status: StatusService;
  readonly nodes: NodeService;
  readonly audit: AuditService;
  readonly devices: DeviceService;
  readonly mappingBulk: MappingBulkService;
  readonly importPreview: MappingImportPreviewService;
  readonly usage: UsageService;
}

export interface ServiceDeps {
  readonly store: Store;
  /** Searches read outside any transaction: the log is append-only. */
  readonly auditReader: AuditReader;
  readonly prober: Prober;
  readonly publisher: Publisher;
  readonly components: () => Promise<{ agent: AgentStatus | null; forwarder: ForwarderStatus | null }>;
  readonly dashboardCounts: () => Promise<DashboardCounts>;
  /** Every gateway node's records (issue 18); null while Redis cannot be read. */
  readonly nodes: () => Promise<NodeStatus[] | null>;
  /** The LAN neighbour table the agent reports (device discovery). */
  readonly neighbours: () => Promise<NeighbourRecord | null>;
  /** The accounting history (migration 0011) and each client's quota count from the agents' usage samples. */
  readonly usageHistory: UsageHistory;
  readonly quotaCounts: () => Promise<QuotaCounts>;
  readonly sealer: PasswordSealer;
  readonly allowedNetworks: readonly string[];
  /** Added to the probe timeout of the settings while a use case waits for the health service. */
  readonly probeWaitMarginMs: number;
}

/**
 * How old a mappings page or dashboard answer may be (read-cache.ts): below the console's 200 ms
 * reload debounce. Measured in bench:api (docs/benchmarks.md).
 */
export const READ_MAX_AGE_MS = 100;

export function createServices(deps: ServiceDeps): ApiServices {
  const cache = new ReadCache(READ_MAX_AGE_MS);
  // Every write use case publishes its notice after its commit: that is where the cached reads end.
  const publisher: Publisher = {
    publish: (event) => {
      cache.invalidate();
      return deps.publisher.publish(event);
    },
  };
  const writes = { ...deps, publisher };
  return {
    mappings: new MappingService(writes),
    mappingQueries: new MappingQueryService({ mappings: deps.store.mappings, gateway: () => gatewayView(deps), quotaCounts: deps.quotaCounts, cache }),
    mappingCsv: new MappingCsvService(writes),
    proxies: new ProxyService(writes),
    settings: new SettingsService(writes),
    status: new StatusService({ counts: deps.dashboardCounts, components: deps.components, cache }),
    nodes: new NodeService({ nodes: deps.nodes, cache }),
    // Two audit reads at once (a third of the api's Postgres connections at most), four waiting.
    audit: new AuditService(deps.auditReader, new WorkGate(2, 4)),
    mappingBulk: new MappingBulkService(writes),
    importPreview: new MappingImportPreviewService(deps),
    devices: new DeviceService({ neighbours: deps.neighbours, mappedIps: async () => new Map((await deps.store.mappings.rows()).map((m) => [m.clientIp, m.id])) }),
    usage: new UsageService({ mappings: deps.store.mappings, history: deps.usageHistory }),
  };
}

/** What the mappings' state is judged by: the serving node's agent, and its forwarder's UDP drops in the interception mode set. */
async function gatewayView(deps: ServiceDeps): Promise<{ agent: AgentStatus | null; udpDrops: UdpDrops }> {
  const [{ agent, forwarder }, settings] = await Promise.all([deps.components(), deps.store.settings.load()]);
  return { agent, udpDrops: udpDropsOf(forwarder, settings.interceptMode ?? 'dnat') };
}
