import { netlinkTalk } from '@pgw/original-dst';
import { chainsDumpRequest, NFPROTO_INET, parseChainNames } from './nftnetlink.js';
import { linkRequest, type NeighbourRow, neighboursDumpRequest, parseLinkIndex, parseNeighbours, parseRoutes, parseRules, type RouteEntry, type RoutingRule, routesDumpRequest, rulesDumpRequest } from './rtnetlink.js';

/**
 * Reads of the kernel's tables in the agent's network namespace over netlink: no child process,
 * so the once-a-second assertions cost the agent no fork (docs/benchmarks.md, the idle footprint).
 */
let seq = Date.now() >>> 0;
const next = () => (seq = (seq + 1) >>> 0);

export async function readRules(): Promise<RoutingRule[]> {
  return parseRules(await netlinkTalk('route', rulesDumpRequest(next()), 1));
}

export async function readRoutes(table: number): Promise<RouteEntry[]> {
  return parseRoutes(await netlinkTalk('route', routesDumpRequest(next()), 1)).filter((r) => r.table === table);
}

/** The chain names of table inet `table`; none when it is absent. */
export async function readInetChainNames(table: string): Promise<string[]> {
  return parseChainNames(await netlinkTalk('netfilter', chainsDumpRequest(NFPROTO_INET, next()), 1), table);
}

/** The IPv4 neighbour entries of interface `name` (its index asked each time: an interface re-created gets a new one). */
export async function readNeighbours(name: string): Promise<NeighbourRow[]> {
  const ifindex = parseLinkIndex(await netlinkTalk('route', linkRequest(name, next()), 1), name);
  return parseNeighbours(await netlinkTalk('route', neighboursDumpRequest(ifindex, next()), 1), ifindex);
}
