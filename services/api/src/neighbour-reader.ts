import type { Redis } from 'ioredis';
import { AGENT_NEIGHBOURS_KEY, type NeighbourRecord, parseNeighbourRecord } from '@pgw/events';

/** The LAN neighbour table the agent reports; with Redis down or no agent it is unknown (null). */
export async function readNeighbours(redis: Redis): Promise<NeighbourRecord | null> {
  try {
    return parseNeighbourRecord(await redis.get(AGENT_NEIGHBOURS_KEY));
  } catch {
    return null;
  }
}
