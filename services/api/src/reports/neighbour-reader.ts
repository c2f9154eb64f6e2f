import type { Redis } from 'ioredis';
import { agentNeighboursKey, mergeNeighbourRecords, type NeighbourRecord, NODES_KEY, parseNeighbourRecord } from '@pgw/events';

/**
 * The LAN neighbour table the agents report, one record per gateway node (an HA pair's two) merged
 * into one; with Redis down or no agent it is unknown (null).
 */
export async function readNeighbours(redis: Redis): Promise<NeighbourRecord | null> {
  try {
    const nodes = await redis.zrange(NODES_KEY, 0, -1);
    if (nodes.length === 0) return null;
    const records = (await redis.mget(nodes.map(agentNeighboursKey))).map(parseNeighbourRecord);
    return mergeNeighbourRecords(records.filter((r): r is NeighbourRecord => r !== null));
  } catch {
    return null;
  }
}
