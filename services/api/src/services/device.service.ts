import type { NeighbourRecord } from '@pgw/events';
import type { DeviceList } from '../contract/types.js';
import { ipv4ToInt } from '@pgw/domain';

export interface DeviceServiceDeps {
  /** The agent's last neighbour table (null: not reported). */
  readonly neighbours: () => Promise<NeighbourRecord | null>;
  /** Client IP -> mapping id, for every mapping. */
  readonly mappedIps: () => Promise<ReadonlyMap<string, number>>;
}

/** Device discovery: the LAN devices the gateway has seen, each with the mapping of its IP if any. */
export class DeviceService {
  constructor(private readonly deps: DeviceServiceDeps) {}

  async list(options: { unmapped: boolean }): Promise<DeviceList> {
    const [record, mapped] = await Promise.all([this.deps.neighbours(), this.deps.mappedIps()]);
    if (!record) return { reportedAt: null, interface: null, omitted: 0, items: [] };
    const items = record.neighbours
      .map((n) => ({ ip: n.ip, mac: n.mac, state: n.state, firstSeen: n.firstSeen.toISOString(), lastSeen: n.lastSeen.toISOString(), mappingId: mapped.get(n.ip) ?? null }))
      .filter((d) => !options.unmapped || d.mappingId === null)
      .sort((a, b) => ipv4ToInt(a.ip) - ipv4ToInt(b.ip) || a.mac.localeCompare(b.mac));
    return { reportedAt: record.at.toISOString(), interface: record.interface, omitted: record.omitted, items };
  }
}
