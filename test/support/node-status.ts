/**
 * Writes a gateway node's status records as its agent and forwarder do (issue 18: one key per node,
 * the node listed in NODES_KEY), for tests that stand in for them in front of the api.
 */
import { hostname } from 'node:os';
import { type AgentStatusRecord, agentStatusKey, type ForwarderStatusRecord, forwarderStatusKey, haStatusKey, type HaStatusRecord, NODES_KEY } from '@pgw/events';
import type { Redis } from 'ioredis';

/** The node name pgw's services take when PGW_NODE_NAME is unset: a single lab gateway's records are under it. */
export const DEFAULT_NODE = hostname();

export async function writeNodeStatus(
  redis: Redis,
  records: { agent?: AgentStatusRecord; forwarder?: ForwarderStatusRecord; ha?: HaStatusRecord },
  node = DEFAULT_NODE,
  ttlS = 60,
): Promise<void> {
  if (records.agent) await redis.set(agentStatusKey(node), JSON.stringify(records.agent), 'EX', ttlS);
  if (records.forwarder) await redis.set(forwarderStatusKey(node), JSON.stringify(records.forwarder), 'EX', ttlS);
  if (records.ha) await redis.set(haStatusKey(node), JSON.stringify(records.ha), 'EX', ttlS);
  await redis.zadd(NODES_KEY, Date.now(), node);
}
