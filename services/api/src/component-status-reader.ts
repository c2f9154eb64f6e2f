import type { Redis } from 'ioredis';
import { AGENT_STATUS_KEY, type AgentStatus, FORWARDER_STATUS_KEY, type ForwarderStatus, parseAgentStatus, parseForwarderStatus } from './logic/component-status.js';

/** Reads what the agent and forwarder report; with Redis down both are simply unknown (null). */
export async function readComponentStatus(redis: Redis): Promise<{ agent: AgentStatus | null; forwarder: ForwarderStatus | null }> {
  try {
    const [agent, forwarder] = await redis.mget(AGENT_STATUS_KEY, FORWARDER_STATUS_KEY);
    return { agent: parseAgentStatus(agent), forwarder: parseForwarderStatus(forwarder) };
  } catch {
    return { agent: null, forwarder: null };
  }
}
