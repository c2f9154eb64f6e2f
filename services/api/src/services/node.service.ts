import type { GatewayNode, GatewayNodes } from '../contract/types.js';
import type { NodeStatus } from '../reports/component-status-reader.js';
import type { ReadCache } from './read-cache.js';

/** GatewayNodes from the nodes' status records (issue 18): pure, so the split-brain rule is tested without Redis. */
export function gatewayNodes(nodes: readonly NodeStatus[]): GatewayNodes {
  const items = nodes.map((n): GatewayNode => {
    const ha = n.ha;
    return {
      name: n.name,
      haState: ha?.state ?? null,
      since: ha?.since?.toISOString() ?? null,
      priority: ha?.priority ?? null,
      lastSeenAt: n.lastSeenAt.toISOString(),
      agent: n.agent && { ok: n.agent.ok, at: n.agent.at.toISOString(), appliedMappings: n.agent.appliedMappings, error: n.agent.error },
      forwarder: n.forwarder && { at: n.forwarder.at.toISOString(), activeConnections: n.forwarder.activeConnections, listeners: n.forwarder.listeners },
    };
  });
  const masters = items.filter((n) => n.haState === 'MASTER');
  return {
    items,
    ha: nodes.some((n) => n.ha !== null),
    master: masters.length === 1 ? masters[0]!.name : null,
    conflict: masters.length > 1,
  };
}

/** The console's "Gateway nodes" card. */
export class NodeService {
  constructor(
    private readonly deps: {
      /** null while Redis cannot be read. */
      readonly nodes: () => Promise<NodeStatus[] | null>;
      readonly cache: ReadCache;
    },
  ) {}

  list(): Promise<GatewayNodes> {
    return this.deps.cache.get('nodes', async () => gatewayNodes((await this.deps.nodes()) ?? []));
  }
}
