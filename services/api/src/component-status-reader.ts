import type { Redis } from 'ioredis';
import { AGENT_STATUS_KEY, type AgentStatus, FORWARDER_STATUS_KEY, type ForwarderStatus, parseAgentStatus, parseForwarderStatus } from '@pgw/events';

/** The agent's status holds one entry per blocked client: parse each distinct value once, not per request. */
function memoised<T>(parse: (raw: string | null | undefined) => T): (raw: string | null | undefined) => T {
  let lastRaw: string | null | undefined;
  let last: T | undefined;
  return (raw) => {
    if (last === undefined || raw !== lastRaw) {
      last = parse(raw);
      lastRaw = raw;
    }
    return last;
  };
}
const agentStatus = memoised(parseAgentStatus);
const forwarderStatus = memoised(parseForwarderStatus);

/** Reads what the agent and forwarder report; with Redis down both are simply unknown (null). */
export async function readComponentStatus(redis: Redis): Promise<{ agent: AgentStatus | null; forwarder: ForwarderStatus | null }> {
  try {
    const [agent, forwarder] = await redis.mget(AGENT_STATUS_KEY, FORWARDER_STATUS_KEY);
    return { agent: agentStatus(agent), forwarder: forwarderStatus(forwarder) };
  } catch {
    return { agent: null, forwarder: null };
  }
}
