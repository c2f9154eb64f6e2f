import type { Redis } from 'ioredis';
import {
  type AgentStatus,
  agentStatusKey,
  type ForwarderStatus,
  forwarderStatusKey,
  type HaStatus,
  haStatusKey,
  NODE_FORGET_MS,
  NODES_KEY,
  parseAgentStatus,
  parseForwarderStatus,
  parseHaStatus,
} from '@pgw/events';

/** One gateway node as its agent and forwarder last reported it (issue 18); null: no live record. */
export interface NodeStatus {
  readonly name: string;
  /** When its agent last wrote its record (the node list's score). */
  readonly lastSeenAt: Date;
  readonly agent: AgentStatus | null;
  readonly forwarder: ForwarderStatus | null;
  /** keepalived's state as the node's agent reports it; null: not part of an HA pair, or its agent is down. */
  readonly ha: HaStatus | null;
}

/** The agent's status holds one entry per blocked client: parse each node's distinct value once, not per request. */
function memoised<T>(parse: (raw: string | null | undefined) => T): (key: string, raw: string | null | undefined) => T {
  const last = new Map<string, { raw: string | null | undefined; value: T }>();
  return (key, raw) => {
    const entry = last.get(key);
    if (entry && entry.raw === raw) return entry.value;
    const value = parse(raw);
    // Bounded by the node list (pruned after NODE_FORGET_MS): a few keys at most.
    last.set(key, { raw, value });
    return value;
  };
}
const agentStatus = memoised(parseAgentStatus);
const forwarderStatus = memoised(parseForwarderStatus);

/** Every node heard from within NODE_FORGET_MS, by name; null while Redis cannot be read. */
export async function readNodes(redis: Redis, now = Date.now()): Promise<NodeStatus[] | null> {
  try {
    const scored = await redis.zrange(NODES_KEY, 0, -1, 'WITHSCORES');
    const nodes: { name: string; seen: number }[] = [];
    for (let i = 0; i + 1 < scored.length; i += 2) {
      const seen = Number(scored[i + 1]);
      if (seen >= now - NODE_FORGET_MS) nodes.push({ name: scored[i]!, seen });
    }
    if (nodes.length === 0) return [];
    const agentKeys = nodes.map((n) => agentStatusKey(n.name));
    const forwarderKeys = nodes.map((n) => forwarderStatusKey(n.name));
    const haKeys = nodes.map((n) => haStatusKey(n.name));
    // Two reads: an ACL selector grants a command only when all its keys are in that one selector.
    const [raw, haRaw] = await Promise.all([redis.mget(...agentKeys, ...forwarderKeys), redis.mget(...haKeys)]);
    return nodes
      .map((n, i) => ({
        name: n.name,
        lastSeenAt: new Date(n.seen),
        agent: agentStatus(agentKeys[i]!, raw[i]),
        forwarder: forwarderStatus(forwarderKeys[i]!, raw[nodes.length + i]),
        ha: parseHaStatus(haRaw[i]),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    return null;
  }
}

/**
 * The node whose records say what the clients get: the one master of an HA pair (both enforce the
 * same policy, the master is where the clients' gateway address is), else the node whose agent
 * reported last (a single gateway; or a pair in split brain or between masters).
 */
export function servingNode(nodes: readonly NodeStatus[]): NodeStatus | undefined {
  const masters = nodes.filter((n) => n.ha?.state === 'MASTER');
  if (masters.length === 1) return masters[0];
  let newest: NodeStatus | undefined;
  for (const n of nodes) if (n.agent && (!newest?.agent || n.agent.at > newest.agent.at)) newest = n;
  return newest;
}

/** What the serving node's agent and forwarder report; with Redis down (or no node yet) both are unknown (null). */
export async function readComponentStatus(redis: Redis): Promise<{ agent: AgentStatus | null; forwarder: ForwarderStatus | null }> {
  const node = servingNode((await readNodes(redis)) ?? []);
  return { agent: node?.agent ?? null, forwarder: node?.forwarder ?? null };
}
